"""Reviewers for tests: deterministic ones that implement the Reviewer protocol.

:class:`PlanReviewer` does, per attempt (by its folder name), what its plan says, by default
``helper``: switch on the first catalogue helper that makes a valid revision (checked with
check_proposal against the earlier candidates). ``fail`` returns no proposal; ``model-error``
makes a revision whose prompt makes the test agent model fail (tests/optimize/agent_plugin);
``code`` adds a helper as Python source in the attempt folder, ``reuse-code`` switches that
helper on without bringing its source. Every session writes a
transcript line per event and reports usage.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from automem.core import Usage
from automem.optimize import CheckedProposal, check_proposal
from automem.optimize.review import ReviewContext, ReviewOutcome
from automem.scaffold import HelperConfig, Scaffold, parse
from tests.optimize.agent_plugin import MARKER

HELPERS = ("auto_log", "inject_tail", "stuck_detector", "neighbour_map", "stairs_finder")
USAGE = Usage(prompt_tokens=1000, completion_tokens=100, cost_usd=0.01)
CODE_HELPER = """
from automem.agent import register_helper
from automem.agent.helpers import Helper


class CountSteps(Helper):
    name = "count_steps"

    def prompt_context(self, ctx, phase):
        return f"(count_steps: step {ctx.step})"


register_helper("count_steps", CountSteps, overwrite=True)
"""


def log(folder: Path, **event: object) -> None:
    with (folder / "transcript.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")


class PlanReviewer:
    name = "plan"

    def __init__(self, plan: Mapping[str, str] | None = None) -> None:
        self.plan = dict(plan or {})
        self.sessions: list[str] = []
        self.contexts: dict[str, ReviewContext] = {}

    def review(self, context: ReviewContext, attempt_dir: Path) -> ReviewOutcome:
        attempt = attempt_dir.name
        self.sessions.append(attempt)
        self.contexts[attempt] = context
        action = self.plan.get(attempt, "helper")
        log(attempt_dir, event="start", attempt=attempt, action=action)
        if action == "fail":
            log(attempt_dir, event="end", failure="no submit")
            return ReviewOutcome(failure="the session ended without submit", usage=USAGE, turns=3)
        parent = parse(context.parent_text)
        earlier = [parse(t) for t in context.earlier_candidates]
        checked = self._revise(parent, earlier, attempt, action, attempt_dir)
        log(attempt_dir, event="submit", name=checked.scaffold.name, changes=checked.changes)
        return ReviewOutcome(
            scaffold_text=checked.text,
            analysis=f"analysis of {parent.name}",
            description=f"{action}: {'; '.join(checked.changes)}",
            code_files=("count_steps.py",) if action == "code" else (),
            usage=USAGE,
            turns=2,
        )

    def _revise(
        self, parent: Scaffold, earlier: list[Scaffold], attempt: str, action: str, folder: Path
    ) -> CheckedProposal:
        if action == "code":
            (folder / "count_steps.py").write_text(CODE_HELPER, encoding="utf-8")
            import automem.runs.plugins as plugins

            plugins.import_plugin(str(folder / "count_steps.py"))
        names = ("count_steps",) if action in ("code", "reuse-code") else HELPERS
        for helper in names:
            if any(h.name == helper for h in parent.helpers):
                continue
            child = parent.model_copy(
                update={
                    "name": f"{parent.game}-{attempt}",
                    "parent": parent.name,
                    "helpers": (*parent.helpers, HelperConfig(name=helper)),
                }
            )
            if action == "model-error":
                prompts = child.prompts.model_copy(
                    update={"plan_system": child.prompts.plan_system + f"\n{MARKER}\n"}
                )
                child = child.model_copy(update={"prompts": prompts})
            from automem.scaffold import dump

            result = check_proposal(dump(child), parent, earlier)
            if isinstance(result, CheckedProposal):
                return result
        raise AssertionError(f"{attempt}: no helper left to switch on")


class InterruptedReviewer(PlanReviewer):
    """Writes part of a transcript, then is interrupted (as by Ctrl-C) in its first session."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False

    def review(self, context: ReviewContext, attempt_dir: Path) -> ReviewOutcome:
        if not self.interrupted:
            self.interrupted = True
            log(attempt_dir, event="start", attempt=attempt_dir.name, action="interrupted")
            raise KeyboardInterrupt
        return super().review(context, attempt_dir)


class SleepyReviewer(PlanReviewer):
    """Writes the start of its transcript, then waits (for a kill -9) in its first session."""

    def review(self, context: ReviewContext, attempt_dir: Path) -> ReviewOutcome:
        import time

        log(attempt_dir, event="start", attempt=attempt_dir.name, action="sleep")
        time.sleep(120)
        return super().review(context, attempt_dir)
