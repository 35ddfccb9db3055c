"""Loading, saving and diffing scaffold files."""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from automem.scaffold.model import Scaffold

_BUILTIN_PACKAGE = "automem.scaffold.builtin"


class ScaffoldError(ValueError):
    """A scaffold that cannot be found or does not validate; the message says where and why."""


def builtin_names() -> list[str]:
    folder = resources.files(_BUILTIN_PACKAGE)
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def default_for_game(game: str) -> str:
    """The built-in v0 scaffold of a game (the name before any '/' of an env id)."""
    return f"{game.split('/', 1)[0]}-v0"


def read_text(ref: str | Path) -> tuple[str, str]:
    """The YAML text of a scaffold (a built-in name or a file path) and where it came from."""
    path = Path(ref)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise ScaffoldError(f"scaffold file {str(path)!r} does not exist")
        return path.read_text(encoding="utf-8"), str(path)
    name = str(ref)
    if name not in builtin_names():
        raise ScaffoldError(
            f"no built-in scaffold named {name!r}; built-in: {', '.join(builtin_names())} "
            "(or give the path of a .yaml file)"
        )
    text = resources.files(_BUILTIN_PACKAGE).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return text, f"builtin:{name}"


def parse(text: str, source: str = "<text>") -> Scaffold:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScaffoldError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScaffoldError(f"{source}: a scaffold is a YAML mapping, got {type(data).__name__}")
    try:
        return Scaffold.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ScaffoldError(f"{source}: invalid scaffold: {problems}") from None


def validate_text(text: str, source: str = "<text>") -> Scaffold:
    """The whole check of a scaffold's text: schema, file names, vocabulary, templates (their
    variables, filters and constructs), helper names and helper parameters.

    Everything that would fail later in a run fails here, with ``source`` in the message.
    """
    scaffold = parse(text, source)
    # Imported here: the agent package imports this one.
    from automem.agent.helpers import validate_helpers
    from automem.agent.prompts import check_templates

    try:
        check_templates(scaffold, source)
        validate_helpers(scaffold.helpers)
    except ValueError as exc:
        message = str(exc)
        raise ScaffoldError(
            message if message.startswith(source) else f"{source}: {message}"
        ) from None
    return scaffold


def load(ref: str | Path) -> Scaffold:
    """Load and validate (:func:`validate_text`) a scaffold from a built-in name
    (``crafter-v0``) or a YAML path."""
    return validate_text(*read_text(ref))


def dump(scaffold: Scaffold) -> str:
    """YAML text of a scaffold, with multi-line strings as readable blocks."""
    return yaml.dump(
        scaffold.model_dump(mode="json"),
        Dumper=_BlockDumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )


def save(scaffold: Scaffold, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dump(scaffold), encoding="utf-8")
    tmp.replace(path)


def diff(a: Scaffold, b: Scaffold, a_name: str = "a", b_name: str = "b") -> str:
    """A unified diff of the normalised YAML of two scaffolds ('' when they are the same)."""
    lines = difflib.unified_diff(
        dump(a).splitlines(keepends=True),
        dump(b).splitlines(keepends=True),
        fromfile=a_name,
        tofile=b_name,
    )
    return "".join(lines)


class _BlockDumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_presenter)
