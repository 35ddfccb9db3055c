"""The inner loop: one episode of LOG and PLAN routines over a text environment.

Per step ``t`` the agent sees observation ``o_t``. LOG (from step 1 on) records what the
outcome of the previous action taught; PLAN recalls and commits one action ``a_t``. Nothing
about an action's outcome is written before the environment has answered it: the outcome
of step ``t`` is logged during step ``t + 1``.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from automem.agent.helpers import Helper, HelperContext, build_helpers
from automem.agent.prompts import PromptRenderer
from automem.agent.roles import consult_memory
from automem.agent.turns import (
    TurnResults,
    bound_turn,
    bounded_notes,
    read_reply,
    show_command,
)
from automem.core import (
    ChatModel,
    CompletionRequest,
    Message,
    ModelError,
    Observation,
    Phase,
    StepResult,
    TextEnv,
    Usage,
)
from automem.memory import MEMORY_OPS, Command, JournalRecord, MemoryStore, Op, parse_commands
from automem.memory.text import without_surrogates
from automem.models.roles import RoleModels, RoleName
from automem.scaffold.model import Scaffold
from automem.traces.io import TraceWriter
from automem.traces.schema import (
    CallRecord,
    CommandRecord,
    EndRecord,
    EpisodeTotals,
    EventRecord,
    Header,
    MessageRecord,
    ObservationRecord,
    PromptRecord,
    StepRecord,
    TextRecord,
)
from automem.traces.texts import TextTable

NO_COMMAND = {
    "log": "ERROR: your reply contained no command. Write commands exactly as shown, e.g. "
    "<|APPEND|>file|text<|END|>, and end with <|DONE|>.",
    "plan": "ERROR: your reply contained no command. Recall with a command or commit with "
    "<|ACTION|>action name<|END|>.",
}
UNSEEN_RESULTS = (
    "ERROR: ACTION not committed: you had not yet seen the results of the commands before it "
    "in the same reply. Read the results above, then commit again."
)


class Meter(Protocol):
    """A shared budget the episode charges for every model call (see automem.runs.budget)."""

    def charge(self, usage: Usage) -> None: ...

    def exhausted(self) -> str | None: ...


class EpisodeStopped(Exception):
    """Ends an episode early with a stated reason (e.g. a model error under on_model_error=stop)."""


class Episode:
    """Runs one episode of one agent (scaffold + model) on one environment, writing its trace.

    ``model`` is one model (the ``agent``) or a memory and an action model (see
    :mod:`automem.agent.roles` for who answers which turn). The trace and memory directory
    are given by the caller (the run layer decides where they live and when an episode
    counts as finished).
    """

    def __init__(
        self,
        *,
        env: TextEnv,
        model: ChatModel | RoleModels,
        scaffold: Scaffold,
        seed: int,
        episode_id: str,
        memory_dir: Path,
        trace: TraceWriter,
        max_steps: int | None = None,
        on_step: Callable[[int], None] | None = None,
        budget: Meter | None = None,
    ) -> None:
        self.models = RoleModels.of(model)
        self.model = self.models.get(self.models.default_role("plan"))  # the one committing
        self.env, self.scaffold = env, scaffold
        self.seed, self.episode_id = seed, episode_id
        self.max_steps = min(max_steps or env.max_steps, env.max_steps)
        self.trace = trace
        self.on_step = on_step
        self.budget = budget
        self.memory = MemoryStore(
            memory_dir, initial_files=scaffold.initial_files, limits=scaffold.limits
        )
        self.prompts = PromptRenderer(scaffold)
        self.helpers: list[Helper] = build_helpers(scaffold.helpers)
        self.ctx = HelperContext(env=env, memory=self.memory)
        self.totals = EpisodeTotals()  # mutable running counts
        self._message_ids: dict[tuple[str, bytes], int] = {}
        self._contents: dict[int, Message] = {}  # this step's messages, by id
        self._next_message_id = 0
        self._texts = TextTable()  # the lines of prompts written so far
        self._shown = (-1, "")  # (step, the observation as this step's prompts show it)
        self._unchanged = 0
        self._traced_records = 0
        self._history: deque[dict[str, object]] = deque(maxlen=scaffold.routine.history_window)
        self._static = self._static_context()
        self._systems: dict[Phase, tuple[int, Message]] = {}  # each phase's, once rendered
        self._actions = tuple(env.action_names)

    # ------------------------------------------------------------------ episode

    def run(self) -> EndRecord:
        started = time.perf_counter()
        routine = self.scaffold.routine
        self.trace.write(self._header())
        step, episode_return, progression = 0, 0.0, 0.0
        status, reason = "finished", "max_steps"
        last: StepResult | None = None
        try:
            observation = self.env.reset(self.seed)
            self.trace.write(
                ObservationRecord(step=0, text=observation.text, short_term=observation.short_term)
            )
            self._observe(observation, None, 0)
            while step < self.max_steps:
                notices = self._notices(last, routine.unchanged_escalation)
                if step > 0:
                    self._log(step, observation, notices, last)
                proposed, fallback = self._plan(step, observation, notices, last)
                action_text = proposed if proposed is not None else self.env.default_action
                result = self.env.step(action_text)
                self._record_step(step, proposed, fallback, result)
                for helper in self.helpers:
                    helper.after_step(self.ctx, result)
                self._sync_journal()
                episode_return += result.reward
                progression = result.progression
                self._track_unchanged(observation, result.observation)
                self._history.append(
                    {"step": step, "action": result.action, "observation": observation.text}
                )
                observation, last = result.observation, result
                step += 1
                self.trace.write(
                    ObservationRecord(
                        step=step, text=observation.text, short_term=observation.short_term
                    )
                )
                self._observe(observation, result, step)
                self.trace.flush()
                if self.on_step:
                    self.on_step(step)
                if result.done:
                    reason = "terminated" if result.terminated else "truncated"
                    break
        except EpisodeStopped as stop:
            status, reason = "stopped", str(stop)
        except Exception as exc:  # a crashed episode is data: recorded with its traceback, counted
            status, reason = "error", self._crashed(step, exc)
        except BaseException as exc:
            if not _is_rust_panic(exc):  # KeyboardInterrupt, SystemExit: not the episode's fault
                raise
            status, reason = "error", self._crashed(step, exc)
        end = EndRecord(
            status=status,
            reason=reason,
            steps=step,
            episode_return=episode_return,
            progression=progression,
            totals=self.totals.model_copy(),
            duration_s=time.perf_counter() - started,
            finished_at=_now(),
        )
        self.trace.write(end)
        self.trace.flush(sync=True)
        return end

    def _crashed(self, step: int, exc: BaseException) -> str:
        reason, _ = without_surrogates(f"{type(exc).__name__}: {exc}")
        self._event(step, "error", reason, {"traceback": traceback.format_exc()})
        return reason

    # ------------------------------------------------------------------ routines

    def _log(
        self, step: int, observation: Observation, notices: list[str], last: StepResult | None
    ) -> None:
        allowed = self.scaffold.vocabulary.log
        cap = self.scaffold.routine.log_turn_cap
        conversation = self._open(step, "log", observation, notices, last)
        for turn in range(cap):
            called = self._call(step, "log", turn, conversation, allowed)
            if called is None:
                return
            commands, results = called
            done = False
            for index, command in enumerate(commands):
                if command.op == Op.DONE:
                    done = True
                    self._command_record(step, "log", turn, command, True, "ok")
                    self._ignored(step, "log", commands[index + 1 :], "after DONE")
                    break
                results.add(
                    self._execute(step, "log", turn, command, allowed), show_command(command)
                )
            if done:
                return
            self._continue(step, "log", conversation, results, cap - turn - 1)
        self._event(step, "log_cap", f"LOG ended by its turn cap ({cap}) without DONE")

    def _plan(
        self, step: int, observation: Observation, notices: list[str], last: StepResult | None
    ) -> tuple[str | None, str | None]:
        """The committed action text, or (None, reason) when the fallback must be used."""
        allowed = self.scaffold.vocabulary.plan
        cap = self.scaffold.routine.plan_turn_cap
        conversation = self._open(step, "plan", observation, notices, last)
        first = consult_memory(self, step, conversation, cap) if self.models.two_model else 0
        for turn in range(first, cap):
            called = self._call(step, "plan", turn, conversation, allowed)
            if called is None:
                return self._fallback(step, "model_error")
            commands, results = called
            for index, command in enumerate(commands):
                if command.op != Op.ACTION:
                    results.add(
                        self._execute(step, "plan", turn, command, allowed), show_command(command)
                    )
                    continue
                rest = commands[index + 1 :]
                if index > 0:
                    # The model asked for results it has not seen yet: it must see them first.
                    self._command_record(step, "plan", turn, command, False, UNSEEN_RESULTS)
                    results.add(UNSEEN_RESULTS)
                    self._ignored(step, "plan", rest, "after an uncommitted ACTION")
                    break
                action = command.args[0] if command.args else ""
                refusal = self._filter(action)
                if refusal is not None:
                    self._command_record(step, "plan", turn, command, False, refusal)
                    results.add(refusal)
                    self._ignored(step, "plan", rest, "after a refused ACTION")
                    break
                self._command_record(step, "plan", turn, command, True, f"committed {action!r}")
                self._ignored(step, "plan", rest, "after the committed ACTION")
                return action, None
            self._continue(step, "plan", conversation, results, cap - turn - 1)
        return self._fallback(step, "plan_turn_cap")

    def _open(
        self,
        step: int,
        phase: Phase,
        observation: Observation,
        notices: list[str],
        last: StepResult | None,
    ) -> list[int]:
        """Start a phase's conversation: its system message and the step's first user message."""
        self._contents.clear()
        first = self._render(
            f"{phase}_turn",
            step,
            observation,
            phase,
            notices=notices,
            last_action=last.action if last else "none",
            history=list(self._history),
        )
        return [
            self._system(step, phase),
            self._message(step, phase, "user", first),
        ]

    def _continue(
        self, step: int, phase: Phase, conversation: list[int], results: TurnResults, left: int
    ) -> None:
        """Return the results of a model turn (or why there were none) as the next user message."""
        if (cut := results.cut_event()) is not None:
            self._event(step, *cut)
        reply = self.prompts.render(
            f"{phase}_continue",
            **self._static,
            results=results.lines(NO_COMMAND[phase]),
            turns_left=left,
            step=step,
        )
        conversation.append(self._message(step, phase, "user", reply))

    def _fallback(self, step: int, reason: str) -> tuple[None, str]:
        self.totals.fallbacks += 1
        self._event(step, "fallback", f"fallback action {self.env.default_action!r}: {reason}")
        return None, reason

    # ------------------------------------------------------------------ model calls

    def _call(
        self,
        step: int,
        phase: Phase,
        turn: int,
        conversation: list[int],
        allowed: tuple[str, ...],
        role: RoleName | None = None,
    ) -> tuple[list[Command], TurnResults] | None:
        """One model turn of ``role`` (default: the phase's): send the conversation, record
        the reply and who made it, parse it.

        Returns the commands to run (at most the per-reply cap) and the turn's results, holding
        the notices of any cap the reply hit. Returns None when the call failed for good and the
        scaffold says to go on; raises :class:`EpisodeStopped` when it says to stop.
        """
        cap = self.scaffold.routine.plan_turn_cap if phase == "plan" else 0
        forced = turn == cap - 1
        if forced:
            # The last PLAN turn: only a commit can still count, so that is all a constrained
            # decoder may produce (an unconstrained model is told by the prompt, as before).
            allowed = (Op.ACTION,)
        role = role or self.models.default_role(phase)
        model = self.models.get(role)
        sizes = self.memory.files()
        empty = tuple(name for name, size in sizes.items() if not size)
        floor = 0 if turn or forced else self._min_commands(phase, len(empty) < len(sizes))
        request = CompletionRequest(
            messages=tuple(self._contents[i] for i in conversation),
            phase=phase,
            allowed_ops=allowed,
            actions=self._actions,
            memory_files=tuple(sizes),
            empty_files=empty,
            sampling=self.scaffold.routine.sampling,
            constrained=self.scaffold.routine.constrained_output,
            reasoning=self.scaffold.routine.allow_reasoning,
            min_commands=floor,
        )
        if self.budget is not None and (spent := self.budget.exhausted()):
            raise EpisodeStopped(f"budget: {spent}")
        self.totals.model_calls += 1
        who = {
            "role": role,
            "model": model.identity.spec,
            "sampling": request.sampling,
            "allowed_ops": allowed,
            "forced_action": forced,
        }
        try:
            completion = model.complete(request)
        except ModelError as exc:
            self.totals.model_errors += 1
            error, _ = without_surrogates(str(exc))  # a server's error text is recorded too
            self.trace.write(
                CallRecord(
                    step=step,
                    phase=phase,
                    turn=turn,
                    prompt=tuple(conversation),
                    error=error,
                    error_kind=exc.kind,
                    **who,
                )
            )
            if self.scaffold.routine.on_model_error == "stop":
                raise EpisodeStopped(f"model_error: {exc.kind}: {error}") from None
            self._event(step, "model_error", f"{exc.kind}: {error}")
            return None
        usage = completion.usage
        if self.budget is not None:
            self.budget.charge(usage)
        self.totals.prompt_tokens += usage.prompt_tokens
        self.totals.completion_tokens += usage.completion_tokens
        self.totals.cached_tokens += usage.cached_tokens
        self.totals.model_latency_s += usage.latency_s
        self.totals.cost_usd += usage.cost_usd or 0.0
        limits = self.scaffold.limits
        reply = read_reply(completion.text, limits.max_reply_chars)  # from here on, recordable
        parsed = parse_commands(reply.text)
        response = self._message(step, phase, "assistant", reply.text)
        self.trace.write(
            CallRecord(
                step=step,
                phase=phase,
                turn=turn,
                prompt=tuple(conversation),
                response=response,
                usage=usage,
                finish_reason=completion.finish_reason,
                normalisations=bounded_notes(reply.notes + parsed.normalisations),
                constrained=completion.constrained,
                **who,
            )
        )
        conversation.append(response)
        commands, results, events = bound_turn(reply, parsed.commands, limits)
        for kind, message, data in events:
            self._event(step, kind, message, data)
        return commands, results

    def _min_commands(self, phase: Phase, readable: bool) -> int:
        """The collection floor of commands on a phase's first turn (0 unless the routine
        sets one). PLAN's floor of reads holds only while some memory file has content."""
        routine = self.scaffold.routine
        if phase == "log":
            return routine.log_min_writes
        return routine.plan_min_reads if readable else 0

    # ------------------------------------------------------------------ commands

    def _execute(
        self, step: int, phase: Phase, turn: int, command: Command, allowed: tuple[str, ...]
    ) -> str:
        if command.op in MEMORY_OPS:
            record = self.memory.execute(command, step=step, phase=phase, allowed_ops=allowed)
            self._count_command(record.ok)
            self._sync_journal(turn)
            result = record.result
        else:
            result = _not_here(command.op, allowed)
            self._command_record(step, phase, turn, command, False, result)
        return result

    def _command_record(
        self, step: int, phase: Phase, turn: int, command: Command, ok: bool, result: str
    ) -> None:
        self._count_command(ok)
        self.trace.write(
            CommandRecord(
                step=step,
                phase=phase,
                turn=turn,
                op=command.op,
                args=command.args,
                ok=ok,
                result=result,
            )
        )

    def _count_command(self, ok: bool) -> None:
        self.totals.commands += 1
        if not ok:
            self.totals.refused_commands += 1

    def _ignored(self, step: int, phase: Phase, rest: list[Command], why: str) -> None:
        if rest:
            self._event(
                step,
                "ignored_commands",
                f"{len(rest)} command(s) ignored {why}",
                {"commands": [c.raw for c in rest]},
            )

    def _filter(self, action: str) -> str | None:
        for helper in self.helpers:
            reason = helper.filter_action(self.ctx, action)
            if reason is not None:
                return f"ERROR: ACTION {action!r} rejected by {helper.name}: {reason}"
        return None

    # ------------------------------------------------------------------ prompts and notices

    def _static_context(self) -> dict[str, object]:
        return {
            "game": self.env.game,
            "game_title": self.env.title,
            "env_id": self.env.env_id,
            "max_steps": self.env.max_steps,  # the game's episode length, not the run's cap
            "actions": [a.model_dump() for a in self.env.actions],
            "default_action": self.env.default_action,
        }

    def _system(self, step: int, phase: Phase) -> int:
        """The id of a phase's system message. Its variables are fixed for the episode, so it
        is rendered and stored once, at its first use."""
        if phase not in self._systems:
            cap = (
                self.scaffold.routine.log_turn_cap
                if phase == "log"
                else self.scaffold.routine.plan_turn_cap
            )
            commands = self.prompts.commands(phase)
            text = self.prompts.render(
                f"{phase}_system",
                **self._static,
                commands=commands,
                turn_cap=cap,
                file_schema=self.prompts.file_schema(),
            )
            message_id = self._message(step, phase, "system", text)
            self._systems[phase] = (message_id, self._contents[message_id])
        message_id, message = self._systems[phase]
        self._contents[message_id] = message
        return message_id

    def _render(
        self, template: str, step: int, observation: Observation, phase: Phase, **extra: object
    ) -> str:
        purposes = self.scaffold.purposes
        files = [
            {
                "name": name,
                "size": size,
                "lines": self.memory.line_breaks(name),  # kept up to date, not rescanned
                "purpose": purposes.get(name, ""),
            }
            for name, size in self.memory.files().items()
        ]
        helper_context = [
            text for helper in self.helpers if (text := helper.prompt_context(self.ctx, phase))
        ]
        self._sync_journal()
        self._shown = (step, observation.render())
        return self.prompts.render(
            template,
            **self._static,
            step=step,
            observation=self._shown[1],
            short_term=observation.short_term,
            files=files,
            helper_context=helper_context,
            **extra,
        )

    def _notices(self, last: StepResult | None, escalation: int) -> list[str]:
        if last is None:
            return []
        found = []
        if not last.valid:
            found.append(
                f"Your previous action was not a valid action; "
                f"{last.action!r} was executed instead."
            )
        if self._unchanged >= escalation:
            found.append(
                f"The observation has not changed for {self._unchanged} steps in a row: "
                "your recent actions have no effect. Try something different."
            )
        elif self._unchanged:
            found.append("The observation did not change after your last action.")
        return found

    def _track_unchanged(self, before: Observation, after: Observation) -> None:
        self._unchanged = self._unchanged + 1 if before.text == after.text else 0

    def _observe(self, observation: Observation, result: StepResult | None, step: int) -> None:
        self.ctx.step, self.ctx.observation, self.ctx.last_result = step, observation, result
        if result is not None:
            self.ctx.actions.append(result.action)
        for helper in self.helpers:
            helper.on_observation(self.ctx)
        self._sync_journal()

    def _sync_journal(self, turn: int = -1) -> None:
        """Trace every memory journal record not traced yet, helpers' own writes included.

        The trace is the journal of record: memory is rebuilt from it, so nothing that changed
        a file may be missing. Records made outside a model turn get turn -1.
        """
        journal = self.memory.journal
        for record in journal[self._traced_records :]:
            self.trace.write(CommandRecord.from_journal(record, turn))
        self._traced_records = len(journal)

    # ------------------------------------------------------------------ trace

    def _header(self) -> Header:
        return Header(
            episode_id=self.episode_id,
            env_id=self.env.env_id,
            game=self.env.game,
            seed=self.seed,
            max_steps=self.max_steps,
            scaffold=self.scaffold.name,
            scaffold_digest=self.scaffold.digest(),
            model=self.models.identity,
            models=self.models.identities(),
            actions=self._actions,
            default_action=self.env.default_action,
            initial_files=self.scaffold.initial_files,
            limits=self.scaffold.limits,
            started_at=_now(),
        )

    def _message(self, step: int, phase: Phase, role: str, content: str) -> int:
        """The id of a message, writing it to the trace the first time its content is seen."""
        key = (role, hashlib.blake2b(content.encode(), digest_size=16).digest())
        message_id = self._message_ids.get(key)
        if message_id is None:
            message_id = self._next_message_id
            self._next_message_id += 1
            self._message_ids[key] = message_id
            self._write_message(message_id, step, phase, role, content)
        self._contents[message_id] = Message(role=role, content=content)  # type: ignore[arg-type]
        return message_id

    def _write_message(
        self, message_id: int, step: int, phase: Phase, role: str, text: str
    ) -> None:
        """A reply verbatim; a prompt as parts of the text table (see automem.traces.texts)."""
        if role == "assistant":
            record = MessageRecord(id=message_id, step=step, phase=phase, role=role, content=text)
            self.trace.write(record)
            return
        shown_step, shown = self._shown
        first = self._texts.size
        parts, new = self._texts.encode(text, shown if shown_step == step else "")
        if new:
            self.trace.write(TextRecord(step=step, first=first, texts=tuple(new)))
        self.trace.write(
            PromptRecord(id=message_id, step=step, phase=phase, role=role, parts=tuple(parts))
        )

    def _record_step(
        self, step: int, proposed: str | None, fallback: str | None, result: StepResult
    ) -> None:
        if not result.valid:
            self.totals.invalid_actions += 1
        self.trace.write(
            StepRecord(
                step=step,
                proposed=proposed,
                action=result.action,
                valid=result.valid,
                fallback=fallback,
                reward=result.reward,
                progression=result.progression,
                terminated=result.terminated,
                truncated=result.truncated,
                info=result.info,
            )
        )

    def _event(self, step: int, kind: str, message: str, data: dict | None = None) -> None:
        self.trace.write(EventRecord(step=step, kind=kind, message=message, data=data or {}))


def _not_here(op: str, allowed: tuple[str, ...]) -> str:
    if op == Op.ACTION:
        return (
            "ERROR: ACTION is not allowed in LOG: record what matters, end with <|DONE|>; "
            "you choose the action in the next phase."
        )
    if op == Op.DONE:
        return (
            "ERROR: DONE is not used in PLAN: commit an action with <|ACTION|>action name<|END|>."
        )
    return f"ERROR: unknown command {op!r}; commands here: {', '.join(allowed)}."


def _is_rust_panic(exc: BaseException) -> bool:
    """A panic in a Rust extension (pydantic-core, say): pyo3 raises it as a BaseException, but
    it is the episode's crash, to be recorded like any other."""
    return any(
        cls.__name__ == "PanicException" and cls.__module__ == "pyo3_runtime"
        for cls in type(exc).__mro__
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


__all__ = ["Episode", "EpisodeStopped", "JournalRecord"]
