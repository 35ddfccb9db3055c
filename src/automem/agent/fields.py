"""Templates of step facts for helpers that write text by code (status file, auto-log).

A template is plain text with ``{field}`` placeholders from a fixed set (and ``{info.KEY}`` for a
value the environment reports in its step info). It is data: nothing in it is evaluated, and an
unknown field is refused when the scaffold is loaded.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator

from automem.agent.helpers import HelperContext
from automem.core import Observation, StepResult

FIELDS: dict[str, str] = {
    "step": "the current step number",
    "action_step": "the step number of the last action",
    "action": "the last action executed (the default when the model's text was invalid)",
    "valid": "yes or no: whether the model's last action text was valid",
    "reward": "the last action's reward",
    "return": "the sum of rewards so far",
    "progression": "the benchmark progression so far, as a percentage",
    "outcome": "a short summary of the last action's outcome (invalid, reward, no change...)",
    "observation": "the current observation's long-term text",
    "short_term": "the current observation's short-term text (status, inventory)",
    "position": "the player's x, y from the environment, or unknown",
    "level": "the map the position is on, or unknown",
}
INFO_PREFIX = "info."
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_INFO_KEY = re.compile(r"[A-Za-z0-9_]+")


def template_problem(text: str) -> str | None:
    """Why ``text`` is not a valid template, or None."""
    for name in _PLACEHOLDER.findall(text):
        key = name.removeprefix(INFO_PREFIX)
        if name in FIELDS or (name.startswith(INFO_PREFIX) and _INFO_KEY.fullmatch(key)):
            continue
        return f"unknown field {{{name}}}; fields: {', '.join(FIELDS)} and {{info.KEY}}"
    if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
        return "a '{' or '}' that is not part of a {field} placeholder"
    return None


def _check(text: str) -> str:
    if (problem := template_problem(text)) is not None:
        raise ValueError(f"invalid template: {problem}")
    return text


Template = Annotated[str, AfterValidator(_check)]


class StepFacts:
    """What the templates can show, kept up to date from every new observation."""

    def __init__(self) -> None:
        self.before: Observation | None = None  # the observation the last action was taken on
        self.now: Observation | None = None
        self.result: StepResult | None = None
        self.progression_before = 0.0
        self.episode_return = 0.0

    def observe(self, ctx: HelperContext) -> None:
        """Call from ``on_observation``: each result is counted once."""
        result = ctx.last_result
        if result is not None:
            self.progression_before = self.result.progression if self.result else 0.0
            self.episode_return += result.reward
        self.before, self.now, self.result = self.now, ctx.observation, result

    def render(self, template: str, ctx: HelperContext) -> str:
        return _PLACEHOLDER.sub(lambda m: self.value(m.group(1), ctx), template)

    def value(self, name: str, ctx: HelperContext) -> str:
        result = self.result
        if name.startswith(INFO_PREFIX):
            info = result.info if result is not None else {}
            key = name.removeprefix(INFO_PREFIX)
            return _show(info[key]) if key in info else "unknown"
        if name == "step":
            return str(ctx.step)
        if name in ("observation", "short_term"):
            return getattr(self.now, "text" if name == "observation" else name, "") or ""
        if name == "return":
            return f"{self.episode_return:g}"
        if name in ("position", "level"):
            where = ctx.env.position() if name == "position" else ctx.env.level()
            return "unknown" if where is None else _show(where)
        if result is None:
            return "0%" if name == "progression" else "none"
        return self._of_result(name, result, ctx)

    def _of_result(self, name: str, result: StepResult, ctx: HelperContext) -> str:
        if name == "action_step":
            return str(ctx.step - 1)
        if name == "action":
            return result.action
        if name == "valid":
            return "yes" if result.valid else "no"
        if name == "reward":
            return f"{result.reward:+g}" if result.reward else "0"
        if name == "progression":
            return _percent(result.progression)
        return self.outcome(result)

    def outcome(self, result: StepResult) -> str:
        parts = []
        if not result.valid:
            parts.append(f"invalid action text, {result.action!r} ran instead")
        if result.reward:
            parts.append(f"reward {result.reward:+g}")
        if result.progression > self.progression_before:
            parts.append(
                f"progression {_percent(self.progression_before)} -> {_percent(result.progression)}"
            )
        if self.before is not None and self.now is not None and self.before == self.now:
            parts.append("nothing changed")
        if result.done:
            parts.append("the episode ended")
        return "; ".join(parts) or "no reward"


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(_show(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
