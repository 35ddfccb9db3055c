"""What the LLM reviewer is told: its role, the objective, the method's constraints, the parent
scaffold and how to use its tools (the system prompt), and the session's first message."""

from __future__ import annotations

from collections.abc import Sequence

from automem.optimize.review import ReviewContext

CONSTRAINTS = """\
Constraints of the method (a submission that breaks one is refused):
- Two phases per step. LOG (after the previous action's outcome is observed): the model
  records what is worth remembering and ends with DONE. PLAN: the model reads its memory and
  commits exactly one ACTION. Nothing about an action's outcome is written before it is
  observed, so PLAN has no write commands.
- Memory stays model-driven: LOG keeps at least one write command and PLAN at least one read
  command; helpers that write files by code may not own every memory file. No programmatic
  buffer or automatic summary may replace the model's own memory commands.
- At least one structural change from the parent: memory files added, removed or renamed;
  the commands of a phase; helpers switched on or off or their parameters; routine settings
  (turn caps, history window, sampling); memory limits. Rewording prompts alone does not count.
- The scaffold is data: one YAML file, checked completely (schema, templates, vocabulary,
  helper names and parameters). Give it a new `name` and set `parent` to the parent's name.
- Do not repeat an earlier candidate (see lineage); you cannot run evaluations yourself."""

METHOD = """\
How to work: look at the episodes (list_episodes), then read the steps that matter (read_steps,
search, memory_at, file_history) and answer: how is memory used; is what is written accurate
or hallucinated; does memory change the actions; what is missing; what is structurally wrong.
Check the helpers you could switch on (helper_catalogue) and what was tried before (lineage).
Then call submit once with the revised scaffold (the whole YAML, or a unified diff of the
parent's YAML exactly as current_scaffold shows it), your analysis and a description. A
refused submission comes back with every reason: fix them all and submit again. Runs are named
by alias (e.g. parent-0); tool results are capped, so ask for narrow ranges."""

COMPACT_METHOD = """\
How to work: list_episodes, read_steps where it matters, current_scaffold (the parent's YAML)
and helper_catalogue; then call submit once with the revised scaffold (the whole YAML, or a
unified diff of current_scaffold), your analysis and a description. Runs are named by alias
(e.g. parent-0)."""

CODE = """\
You may also add a helper as Python code: write_code(filename, source) writes a module that
defines a subclass of automem.agent.helpers.Helper and registers it with
automem.agent.helpers.register_helper("name", TheClass); switch it on in the scaffold's
helpers by that name. Submit imports the files you wrote."""

REMINDER = (
    "You answered without calling a tool. This session only ends through the submit tool: "
    "call a tool now (submit when your revision is ready). Another answer without a tool call "
    "ends the session with no revision."
)


def system_prompt(context: ReviewContext, tools: Sequence[str], *, compact: bool = False) -> str:
    """The session's instructions; ``compact`` leaves the parent's YAML to current_scaffold."""
    parts = [
        "You are the reviewer of a scaffold optimisation. An LLM agent plays the game "
        f"{context.game!r} with a directory of memory files it manages through commands. The "
        "scaffold (prompts, memory files, command vocabulary, helpers, routine) defines that "
        "agent. You read its evaluation runs and propose ONE revised scaffold that makes the "
        "agent progress further.",
        f"Objective:\n{context.objective}",
        CONSTRAINTS,
        COMPACT_METHOD if compact else METHOD,
    ]
    if context.allow_code:
        parts.append(CODE)
    if context.continuation_of is not None:
        parts.append(
            f"This is a continuation: attempt {context.continuation_of.attempt} proposed a "
            "candidate that was not accepted. Read it and its runs (failed_candidate, runs "
            "failed-N), then revise the PARENT again, not the failed candidate."
        )
    parts.append(f"Tools: {', '.join(tools)}.")
    if not compact:
        parts.append(f"The parent scaffold (YAML):\n{context.parent_text}")
    return "\n\n".join(parts)


def opening(context: ReviewContext, runs: str) -> str:
    lines = [f"Review the parent scaffold's evaluation runs for {context.game}. The runs:", runs]
    if context.earlier:
        lines.append(f"{len(context.earlier)} earlier attempts of this optimisation: see lineage.")
    else:
        lines.append("No earlier attempts: this is the first revision.")
    lines.append("Start with list_episodes, and end with submit.")
    return "\n".join(lines)
