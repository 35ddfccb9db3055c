"""Rendering a scaffold's Jinja2 prompt templates, and the built-in wording of each command."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.sandbox import SecurityError

from automem.memory.ops import tag_usage
from automem.scaffold.model import Scaffold
from automem.scaffold.templates import TemplateRefused, check_template, compile_template
from automem.scaffold.templates import render as render_template

# A scaffold may override the help text per op (vocabulary.help); the syntax is the parser's.
COMMAND_HELP: dict[str, str] = {  # what each command does; see tag_usage for the syntax
    "SEARCH": (
        "lines of file containing keyword (case-insensitive): the latest matches and the total"
    ),
    "READ": "the whole file",
    "TAIL": "the last N lines of file",
    "COUNT": "how many lines of file contain keyword",
    "APPEND": "add one line of text at the end of file (creates it if needed)",
    "WRITE": "replace the whole content of file with text",
    "CREATE": "create a new empty file",
    "UPSERT_MAP": "set the line for a map cell (key x,y) in the map file, replacing its old line",
    "DONE": "end this phase",
    "ACTION": "commit one game action (exactly as listed); this ends the step",
}

_TEMPLATE_FIELDS = (
    "log_system",
    "log_turn",
    "log_continue",
    "plan_system",
    "plan_turn",
    "plan_continue",
)

# The variables each kind of template is given; anything else is a mistake caught at load time.
_STATIC = {"game", "game_title", "env_id", "max_steps", "actions", "default_action"}
TEMPLATE_VARIABLES: dict[str, frozenset[str]] = {
    # file_schema: the scaffold's declared files (name, purpose), stable for the whole episode,
    # so a system prompt can hold them in the cached prefix; turns show the files as they are.
    "system": frozenset(_STATIC | {"commands", "turn_cap", "file_schema"}),
    "turn": frozenset(
        _STATIC
        | {
            "step",
            "observation",
            "short_term",
            "files",
            "helper_context",
            "notices",
            "last_action",
            "history",
        }
    ),
    "continue": frozenset(_STATIC | {"step", "results", "turns_left"}),
}


@dataclass
class PromptRenderer:
    """Compiled templates of one scaffold. Compiling once keeps per-step overhead small."""

    scaffold: Scaffold
    _templates: dict[str, jinja2.Template] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        # Checked here too, not only at load: a Scaffold built in code renders nothing unchecked.
        check_templates(self.scaffold, f"scaffold {self.scaffold.name!r}")
        for name in _TEMPLATE_FIELDS:
            self._templates[name] = _compile(getattr(self.scaffold.prompts, name))

    def render(self, name: str, **context: Any) -> str:
        try:
            return render_template(self._templates[name], context).strip()
        except jinja2.UndefinedError as exc:
            raise ValueError(
                f"scaffold {self.scaffold.name!r}: template prompts.{name} uses {exc.message}; "
                f"available variables: {', '.join(sorted(context))}"
            ) from None
        except SecurityError as exc:
            raise ValueError(
                f"scaffold {self.scaffold.name!r}: template prompts.{name} was stopped by the "
                f"template sandbox: {exc}"
            ) from None

    def file_schema(self) -> list[dict[str, str]]:
        """The scaffold's declared memory files, for system templates (``file_schema``)."""
        return [{"name": f.name, "purpose": f.purpose} for f in self.scaffold.files]

    def commands(self, phase: str) -> list[dict[str, str]]:
        ops = self.scaffold.vocabulary.ops(phase)
        overrides = self.scaffold.vocabulary.help
        return [
            {"op": op, "usage": tag_usage(op), "help": overrides.get(op, COMMAND_HELP[op])}
            for op in ops
        ]


@functools.lru_cache(maxsize=64)
def _compile(source: str) -> jinja2.Template:
    # Compiling costs milliseconds; episodes of one scaffold (e.g. in threads) share the result.
    return compile_template(source)


@functools.lru_cache(maxsize=256)
def _check(source: str, kind: str) -> str | None:
    """The problem of one template text, or None (cached: every episode checks its scaffold)."""
    try:
        check_template(source, TEMPLATE_VARIABLES[kind])
    except jinja2.TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    except TemplateRefused as exc:
        return str(exc)
    return None


def check_templates(scaffold: Scaffold, source: str) -> None:
    """Fail, naming the template and what it used, unless every template is in the template
    language (:mod:`automem.scaffold.templates`) and uses only its documented variables."""
    for name in _TEMPLATE_FIELDS:
        problem = _check(getattr(scaffold.prompts, name), name.split("_", 1)[1])
        if problem is not None:
            raise ValueError(f"{source}: prompts.{name} {problem}")
