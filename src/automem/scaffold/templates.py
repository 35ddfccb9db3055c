"""The template language of scaffolds: a sandboxed subset of Jinja2 that can only format text.

Loop 1 renders templates a model wrote, so a template can do nothing but show the variables it
is given. Two guards, each enough on its own against running code:

* :func:`check_template` walks the parsed template and refuses, naming the construct, anything
  outside the language: unknown names (Jinja's globals such as ``lipsum`` included), filters and
  tests not in the allow-lists, ``_``-prefixed attributes, calls, imports and includes, ``set``,
  macros, and the constructs that could make a render huge or slow.
* :data:`SANDBOX` renders in an immutable sandbox with no globals and only the allowed filters
  and tests, caps the size of ``*`` and ``join`` results, and :func:`render` caps the output.

The language: ``{{ expression }}``, ``{% if %}``/``{% elif %}``/``{% else %}``, ``{% for x in
variable %}`` (at most two deep), ``{% filter %}``, ``{% raw %}`` and comments; expressions of
variables, their attributes and items, literals, ``+ - * / //``, comparisons, ``and or not``,
``~``, ``x if c else y``, and the filters and tests below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.filters import do_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

ALLOWED_FILTERS = frozenset(
    {
        "abs",
        "capitalize",
        "count",
        "d",
        "default",
        "first",
        "int",
        "join",
        "last",
        "length",
        "list",
        "lower",
        "reverse",
        "round",
        "string",
        "title",
        "trim",
        "truncate",
        "upper",
    }
)
ALLOWED_TESTS = frozenset(
    {
        "!=",
        "<",
        "<=",
        "==",
        ">",
        ">=",
        "boolean",
        "defined",
        "divisibleby",
        "eq",
        "even",
        "false",
        "ge",
        "gt",
        "in",
        "integer",
        "iterable",
        "le",
        "lower",
        "lt",
        "mapping",
        "ne",
        "none",
        "number",
        "odd",
        "sequence",
        "string",
        "true",
        "undefined",
        "upper",
    }
)
MAX_LOOP_DEPTH = 2  # the context holds flat lists: deeper loops can only be slow
MAX_RENDERED_CHARS = 1_000_000  # a prompt is a few kilobytes; this bounds a runaway template

# Every node type the language has; anything else is refused by name (see _REFUSED).
_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.For,
    nodes.FilterBlock,
    nodes.Name,
    nodes.Const,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Filter,
    nodes.Test,
    nodes.Keyword,
    nodes.CondExpr,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Neg,
    nodes.Pos,
    nodes.Add,
    nodes.Sub,
    nodes.Mul,
    nodes.Div,
    nodes.FloorDiv,
    nodes.Concat,
    nodes.Compare,
    nodes.Operand,
    nodes.List,
    nodes.Tuple,
    nodes.Dict,
    nodes.Pair,
)
_REFUSED: dict[type[nodes.Node], str] = {
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
    nodes.Block: "{% block %}",
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.Call: "a function or method call",
    nodes.Assign: "{% set %}",
    nodes.AssignBlock: "{% set %}",
    nodes.With: "{% with %}",
    nodes.ScopedEvalContextModifier: "{% autoescape %}",
    nodes.EvalContextModifier: "{% autoescape %}",
    nodes.Pow: "the ** operator",
    nodes.Mod: "the % operator",
}
_LANGUAGE = (
    "a scaffold template may use only its variables, {{ }}, {% if %}, {% for %}, "
    "{% filter %} and the allowed filters and tests"
)
_SPECIAL_NAMES = frozenset({"self"})  # resolved by Jinja itself, never reported as undeclared


class TemplateRefused(ValueError):
    """A template outside the scaffold template language; the message names what it used."""


# ---------------------------------------------------------------------------- rendering


def _bounded_mul(left: Any, right: Any) -> Any:
    for seq, n in ((left, right), (right, left)):
        sized = isinstance(seq, str | list | tuple) and isinstance(n, int)
        if sized and len(seq) * n > MAX_RENDERED_CHARS:
            raise SecurityError(
                f"'*' would make a value of {len(seq) * n} items (limit {MAX_RENDERED_CHARS})"
            )
    return left * right


@jinja2.pass_eval_context
def _bounded_join(
    eval_ctx: nodes.EvalContext, value: Iterable[Any], d: str = "", attribute: Any = None
) -> str:
    items = list(value)
    if len(str(d)) * max(len(items) - 1, 0) > MAX_RENDERED_CHARS:
        raise SecurityError(f"join would make more than {MAX_RENDERED_CHARS} characters")
    return do_join(eval_ctx, items, d, attribute)


class _NoTemplates(jinja2.BaseLoader):
    """Refuses every name: a scaffold template never reads another template or a file."""

    def get_source(self, environment: jinja2.Environment, template: str) -> Any:
        raise SecurityError(f"scaffold templates cannot load other templates ({template!r})")


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _PromptSandbox(ImmutableSandboxedEnvironment):
    """No globals, only the allowed filters and tests, bounded ``*``; ``**`` and ``%`` refused."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            trim_blocks=False,
            autoescape=False,
            loader=_NoTemplates(),
        )
        self.globals.clear()
        self.filters = {name: self.filters[name] for name in ALLOWED_FILTERS}
        self.filters["join"] = _bounded_join
        self.tests = {name: self.tests[name] for name in ALLOWED_TESTS}

    def getattr(self, obj: Any, attribute: str) -> Any:
        # ``f.name`` on a context dict: Jinja tries the attribute, fails, then takes the item.
        # Taking the item at once returns the same value at half the render cost (a turn
        # template looks up some 30 of them); an attribute a dict has goes the usual way.
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            return _bounded_mul(left, right)
        raise SecurityError(f"the {operator} operator is not allowed in scaffold templates")


SANDBOX = _PromptSandbox()


@jinja2.pass_context
def _never_called(*args: Any, **kwargs: Any) -> Any:
    raise SecurityError("the check environment renders nothing")


class _CheckEnvironment(ImmutableSandboxedEnvironment):
    """Parses for the check, and never evaluates: the check runs Jinja's code generator, which
    folds constant expressions, and ``{{ 'x' * 10000000000 }}`` must not be folded while checked.

    Every Jinja filter and test name exists (so a refused one is named by the check, not by a
    syntax error) but none is callable at compile time, the folded operators are intercepted,
    and there are no globals, so a name such as ``lipsum`` counts as undeclared.
    """

    intercepted_binops = frozenset({"*", "**", "%", "+", "-", "/", "//"})

    def __init__(self) -> None:
        super().__init__()
        self.globals.clear()
        self.filters = dict.fromkeys(self.filters, _never_called)
        self.tests = dict.fromkeys(self.tests, _never_called)


_PARSER = _CheckEnvironment()


def compile_template(text: str) -> jinja2.Template:
    """The sandboxed template of ``text``; call :func:`check_template` on it first."""
    return SANDBOX.from_string(text)


def render(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """Render, stopping (with :class:`SecurityError`) once the output passes its size cap."""
    parts: list[str] = []
    size = 0
    for chunk in template.generate(**context):
        size += len(chunk)
        if size > MAX_RENDERED_CHARS:
            raise SecurityError(f"the rendered text passed {MAX_RENDERED_CHARS} characters")
        parts.append(chunk)
    return "".join(parts)


# ---------------------------------------------------------------------------- checking


def check_template(text: str, variables: frozenset[str]) -> None:
    """Refuse ``text`` unless it is in the template language and uses only ``variables``.

    Raises :class:`TemplateRefused` (one line, naming each construct it refuses) or
    :class:`jinja2.TemplateSyntaxError`.
    """
    tree = _PARSER.parse(text)
    problems = [p for node in tree.find_all(nodes.Node) if (p := _node_problem(node))]
    problems += _loop_problems(tree, 0)
    try:
        names = jinja2.meta.find_undeclared_variables(tree)
    except jinja2.TemplateAssertionError:  # e.g. a filter no environment has
        if not problems:
            raise
        names = set()
    names |= {n.name for n in tree.find_all(nodes.Name) if n.name in _SPECIAL_NAMES}
    unknown = sorted(names - variables)
    if unknown:
        available = ", ".join(sorted(variables))
        problems.insert(0, f"uses unknown variable(s) {', '.join(unknown)}; available: {available}")
    if problems:
        raise TemplateRefused("; ".join(dict.fromkeys(problems)))


_NO_UNDERSCORE = "names starting with '_' are not allowed"


def _node_problem(node: nodes.Node) -> str | None:
    if not isinstance(node, _ALLOWED_NODES):
        construct = _REFUSED.get(type(node), f"the {type(node).__name__} construct")
        return f"uses {construct}, which is not allowed: {_LANGUAGE}"
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return f"accesses attribute {node.attr!r}: {_NO_UNDERSCORE}"
    if isinstance(node, nodes.Getitem) and _underscored(node.arg):
        return f"accesses item {node.arg.value!r}: {_NO_UNDERSCORE}"  # type: ignore[attr-defined]
    if isinstance(node, nodes.Filter | nodes.Test):
        kind, allowed = (
            ("filter", ALLOWED_FILTERS)
            if isinstance(node, nodes.Filter)
            else ("test", ALLOWED_TESTS)
        )
        if node.name not in allowed:
            listing = ", ".join(sorted(allowed))
            return f"uses {kind} {node.name!r}, which is not allowed; allowed: {listing}"
        for arg in (*node.args, *(k.value for k in node.kwargs)):
            if _underscored(arg):
                return f"passes {arg.value!r} to {kind} {node.name!r}: {_NO_UNDERSCORE}"  # type: ignore[attr-defined]
    return None


def _underscored(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Const) and isinstance(node.value, str) and node.value.startswith("_")
    )


def _loop_problems(node: nodes.Node, depth: int) -> list[str]:
    """Loops over a variable only (so their length is the context's), at most two deep."""
    problems = []
    for child in node.iter_child_nodes():
        inner = depth
        if isinstance(child, nodes.For):
            inner = depth + 1
            if inner > MAX_LOOP_DEPTH:
                problems.append(f"nests {{% for %}} {inner} deep; at most {MAX_LOOP_DEPTH}")
            if not _is_reference(child.iter):
                problems.append(
                    "loops over a computed value; {% for %} may only loop over a variable, "
                    "its attribute or item, or a slice of it"
                )
        problems += _loop_problems(child, inner)
    return problems


def _is_reference(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Name):
        return True
    if isinstance(node, nodes.Getattr):
        return _is_reference(node.node)
    if isinstance(node, nodes.Getitem):
        key_ok = isinstance(node.arg, nodes.Const) or (
            isinstance(node.arg, nodes.Slice)
            and all(
                part is None or isinstance(part, nodes.Const | nodes.Neg)
                for part in (node.arg.start, node.arg.stop, node.arg.step)
            )
        )
        return key_ok and _is_reference(node.node)
    if isinstance(node, nodes.Filter):
        return (
            node.name in {"reverse", "list"} and node.node is not None and _is_reference(node.node)
        )
    return False
