"""Scaffold templates cannot run code: the template language check and the render sandbox.

Loop 1 renders scaffolds written by a model, so every hostile template below must be refused at
load time (library and CLI, naming the template and what it used), and must not run even when
the check is bypassed and the template is rendered directly in the sandbox.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import jinja2
import pytest
from jinja2.sandbox import SecurityError
from typer.testing import CliRunner

from automem.agent.prompts import PromptRenderer
from automem.cli import app
from automem.scaffold import (
    HelperConfig,
    Scaffold,
    ScaffoldError,
    builtin_names,
    dump,
    load,
    validate_text,
)
from automem.scaffold.templates import (
    SANDBOX,
    TemplateRefused,
    check_template,
    compile_template,
    render,
)
from tests.conftest import play

ANCHOR = "Record what matters, then"  # a line of crafter-v0's log_turn


def context(kind: str, scaffold: Scaffold) -> dict[str, Any]:
    """What the agent gives a template of ``kind`` (system, turn, continue) mid-episode."""
    static: dict[str, Any] = {
        "game": scaffold.game,
        "game_title": scaffold.game.capitalize(),
        "env_id": scaffold.game,
        "max_steps": 100,
        "actions": [
            {"name": "north", "description": "move north"},
            {"name": "wait", "description": ""},
        ],
        "default_action": "wait",
    }
    if kind == "system":
        renderer = PromptRenderer(scaffold)
        return {
            **static,
            "commands": renderer.commands("log"),
            "turn_cap": 10,
            "file_schema": renderer.file_schema(),
        }
    if kind == "continue":
        results = ["[READ|strategy] strategy (1 line):\ngo north", "[COUNT|strategy|go] 1 line"]
        return {**static, "step": 7, "results": results, "turns_left": 3}
    files = [{"name": f.name, "size": 12, "lines": 1, "purpose": f.purpose} for f in scaffold.files]
    return {
        **static,
        "step": 7,
        "observation": "You see a tree to the north.",
        "short_term": "",
        "files": files,
        "helper_context": ["STUCK: You repeated 'wait' 4 times"],
        "notices": ["The observation did not change after your last action."],
        "last_action": "north",
        "history": [{"step": 6, "action": "north", "observation": "You see grass."}],
    }


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_template_renders_in_the_sandbox(name: str) -> None:
    scaffold = load(name)
    renderer = PromptRenderer(scaffold)
    for field in ("log_system", "log_turn", "log_continue", "plan_system", "plan_turn"):
        assert renderer._templates[field].environment is SANDBOX
        kind = field.split("_", 1)[1]
        text = renderer.render(field, **context(kind, scaffold))
        assert text, field
        if kind == "system":
            assert scaffold.game.capitalize() in text
            assert "<|APPEND|>" in text or "<|SEARCH|>" in text
            # the declared files' purposes sit in the system prompt, the cached prefix
            assert all(f"- {f.name}: {f.purpose}" in text for f in scaffold.files)
        if kind == "turn":
            assert "You see a tree to the north." in text
            assert all(f.name in text for f in scaffold.files)
            assert "STUCK: You repeated 'wait' 4 times" in text
            assert "NOTICE: The observation did not change" in text
    plan_system = renderer.render("plan_system", **context("system", scaffold))
    assert "- north: move north" in plan_system and "- wait\n" in plan_system
    plan_continue = renderer.render("plan_continue", **context("continue", scaffold))
    assert "go north" in plan_continue and "3 replies left in PLAN" in plan_continue


# Each payload runs a shell command (touch PWNED) in plain Jinja2 (or, for include, extends and
# import, reads a file outside the scaffold), by a different route; each is paired with what
# the refusal must name.
RUN = "lipsum.__globals__.os.popen('touch PWNED').read()"
HOSTILE = [
    (f"{{{{ {RUN} }}}}", "lipsum"),
    ("{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}", "cycler"),
    ("{{ joiner.__init__.__globals__.os.popen('touch PWNED').read() }}", "joiner"),
    ("{{ namespace.__init__.__globals__.os.popen('touch PWNED').read() }}", "namespace"),
    (f"{{% for i in range(1) %}}{{{{ {RUN} }}}}{{% endfor %}}", "range"),
    (f"{{% if dict(a=1) %}}{{{{ {RUN} }}}}{{% endif %}}", "dict"),
    (
        "{{ self._TemplateReference__context.cycler.__init__.__globals__.os"
        ".popen('touch PWNED').read() }}",
        "unknown variable(s) self",
    ),
    (
        "{% for c in observation.__class__.__mro__[1].__subclasses__() %}"
        "{% if c.__name__ == '_wrap_close' %}"
        "{{ c.__init__.__globals__['popen']('touch PWNED').read() }}{% endif %}{% endfor %}",
        "attribute '__class__'",
    ),
    (
        "{% for c in ''.__class__.__mro__[1].__subclasses__() %}"
        "{% if c.__name__ == '_wrap_close' %}"
        "{{ c.__init__.__globals__['popen']('touch PWNED').read() }}{% endif %}{% endfor %}",
        "attribute '__mro__'",
    ),
    (
        "{% for c in (observation|attr('__class__')|attr('__mro__'))[1].__subclasses__() %}"
        "{% if c.__name__ == '_wrap_close' %}"
        "{{ c.__init__.__globals__['popen']('touch PWNED').read() }}{% endif %}{% endfor %}",
        "filter 'attr'",
    ),
    (
        "{% for c in observation['__class__']['__mro__'][1]['__subclasses__']() %}"
        "{% if c.__name__ == '_wrap_close' %}"
        "{{ c.__init__.__globals__['popen']('touch PWNED').read() }}{% endif %}{% endfor %}",
        "item '__class__'",
    ),
    ("{% import 'etc/hostname' as h %}{{ h }}", "{% import %}"),
    ("{% from 'etc/hostname' import x %}{{ x }}", "{% from ... import %}"),
    ("{% include 'etc/hostname' %}", "{% include %}"),
    ("{% extends 'etc/hostname' %}", "{% extends %}"),
    ("{% set os = lipsum.__globals__.os %}{{ os.popen('touch PWNED').read() }}", "{% set %}"),
    (f"{{% macro m() %}}{{{{ {RUN} }}}}{{% endmacro %}}{{{{ m() }}}}", "{% macro %}"),
    (
        "{% with g = lipsum.__globals__ %}{{ g.os.popen('touch PWNED').read() }}{% endwith %}",
        "{% with %}",
    ),
    (f"{{{{ observation.format({RUN}) }}}}", "function or method call"),
    (f"{{{{ files|map(attribute='name')|list }}}}{{{{ {RUN} }}}}", "filter 'map'"),
    (f"{{% if observation is not callable %}}{{{{ {RUN} }}}}{{% endif %}}", "test 'callable'"),
    (f"{{{{ files|join(attribute='__class__') }}}}{{{{ {RUN} }}}}", "'__class__' to filter 'join'"),
]


def hostile(tmp_path: Path, payload: str) -> tuple[str, Path]:
    """The payload (its command now touching a file under tmp_path) and that file's path."""
    marker = tmp_path / "pwned"
    return payload.replace("touch PWNED", f"touch {marker}"), marker


def hostile_scaffold(tmp_path: Path, payload: str) -> Path:
    text = dump(load("crafter-v0"))
    assert ANCHOR in text
    path = tmp_path / "hostile.yaml"
    path.write_text(text.replace(ANCHOR, f"{payload} {ANCHOR}", 1))
    return path


@pytest.mark.parametrize(("payload", "named"), HOSTILE)
def test_hostile_templates_are_refused_at_load_and_never_run(
    tmp_path: Path, payload: str, named: str
) -> None:
    payload, marker = hostile(tmp_path, payload)
    path = hostile_scaffold(tmp_path, payload)
    with pytest.raises(ScaffoldError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: prompts.log_turn ") and named in message
    assert "\n" not in message
    with pytest.raises(ScaffoldError, match=r"prompts\.log_turn"):
        validate_text(path.read_text(), "hostile.yaml")

    # A Scaffold built in code skips load; the renderer checks it all the same.
    bypassed = Scaffold.model_validate(load("crafter-v0").model_dump())
    prompts = bypassed.prompts.model_copy(update={"log_turn": payload})
    with pytest.raises(ValueError, match=r"prompts\.log_turn"):
        PromptRenderer(bypassed.model_copy(update={"prompts": prompts}))

    # Rendering forced past every check: the sandbox stops it before the command runs.
    with pytest.raises(jinja2.TemplateError):
        render(compile_template(payload), context("turn", bypassed))
    assert not marker.exists()


@pytest.mark.parametrize(("payload", "named"), HOSTILE)
def test_scaffold_validate_refuses_hostile_templates(
    tmp_path: Path, payload: str, named: str
) -> None:
    payload, marker = hostile(tmp_path, payload)
    path = hostile_scaffold(tmp_path, payload)
    result = CliRunner().invoke(app, ["scaffold", "validate", "crafter-v0", str(path)])
    assert result.exit_code == 1
    assert "✓ crafter-v0" in result.output and "✓ " + str(path) not in result.output
    assert "prompts.log_turn" in result.output and named in result.output
    assert "Traceback" not in result.output
    assert not marker.exists()


def test_every_template_field_is_checked(tmp_path: Path) -> None:
    base = load("crafter-v0")
    for field in type(base.prompts).model_fields:
        payload = "{{ lipsum }}"
        prompts = base.prompts.model_copy(update={field: payload})
        text = dump(base.model_copy(update={"prompts": prompts}))
        with pytest.raises(ScaffoldError, match=rf"prompts\.{field} uses unknown variable\(s\)"):
            validate_text(text, "x.yaml")


@pytest.mark.parametrize(
    ("template", "chars", "problem"),
    [
        ("{{ observation * 100000000 }}", 2000, "would make a value of"),
        ("{{ observation|join(observation) }}", 2000, "join would make more than"),
        ("{{ observation|join('-' * 999999) }}", 2000, "join would make more than"),
        (  # 200 x 200 x 200 characters: stopped once past the output cap
            "{% for a in observation %}{% for b in observation %}{{ observation }}"
            "{% endfor %}{% endfor %}",
            200,
            "the rendered text passed 1000000 characters",
        ),
    ],
)
def test_sandbox_errors_at_render_are_clear_value_errors(
    template: str, chars: int, problem: str
) -> None:
    scaffold = load("crafter-v0")
    prompts = scaffold.prompts.model_copy(update={"log_turn": template})
    renderer = PromptRenderer(scaffold.model_copy(update={"prompts": prompts}))  # passes check
    ctx = context("turn", scaffold)
    ctx["observation"] = "x" * chars
    with pytest.raises(ValueError) as info:
        renderer.render("log_turn", **ctx)
    message = str(info.value)
    assert "prompts.log_turn was stopped by the template sandbox" in message
    assert problem in message and "\n" not in message


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{% for a in observation ~ observation %}{% endfor %}", "loops over a computed value"),
        (
            "{% for a in files %}{% for b in files %}{% for c in files %}"
            "{% endfor %}{% endfor %}{% endfor %}",
            "nests {% for %} 3 deep; at most 2",
        ),
        ("{{ 9 ** 9 ** 9 }}", "the ** operator"),
        ("{{ '%999999999d' % 1 }}", "the % operator"),
    ],
)
def test_constructs_that_make_a_render_huge_or_slow_are_refused(
    template: str, problem: str
) -> None:
    text = dump(load("crafter-v0")).replace(ANCHOR, f"{template} {ANCHOR}", 1)
    with pytest.raises(ScaffoldError, match=r"prompts\.log_turn") as info:
        validate_text(text, "x.yaml")
    assert problem in str(info.value)


def test_the_template_language_still_formats(tmp_path: Path) -> None:
    """What a scaffold may use: loops with slices, filters, tests, conditions, arithmetic."""
    template = (
        "{% for h in history[-2:]|reverse %}{{ loop.index }}. {{ h.action|upper }}"
        "{% if not loop.last %}, {% endif %}{% endfor %} | "
        "{{ files|length }} files: {{ files|join(', ', attribute='name') }} | "
        "{% if step is even %}even{% else %}odd{% endif %} {{ step + 1 }} {{ '-' * 3 }} "
        "{{ observation|truncate(12, true, '') }}{% filter lower %} DONE{% endfilter %}"
    )
    base = load("crafter-v0")
    prompts = base.prompts.model_copy(update={"log_turn": template})
    scaffold = validate_text(dump(base.model_copy(update={"prompts": prompts})), "ok.yaml")
    ctx = context("turn", scaffold)
    ctx["history"] = [{"step": i, "action": a} for i, a in enumerate(["left", "north", "wait"])]
    ctx["step"] = 8
    text = PromptRenderer(scaffold).render("log_turn", **ctx)
    names = ", ".join(f.name for f in scaffold.files)
    assert text == f"1. WAIT, 2. NORTH | 5 files: {names} | even 9 --- You see a tr done"


def test_a_bad_helper_parameter_is_refused_at_load(tmp_path: Path) -> None:
    base = load("crafter-v0")
    bad = base.model_copy(
        update={"helpers": (HelperConfig(name="stuck_detector", params={"repeat": 1}),)}
    )
    path = tmp_path / "bad-helper.yaml"
    path.write_text(dump(bad))
    with pytest.raises(ScaffoldError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: helper 'stuck_detector': invalid params: repeat")
    unknown = bad.model_copy(update={"helpers": (HelperConfig(name="stuck_detecter"),)})
    with pytest.raises(ScaffoldError, match=r"unknown helper 'stuck_detecter'\. Did you mean"):
        validate_text(dump(unknown), "u.yaml")
    good = bad.model_copy(
        update={"helpers": (HelperConfig(name="stuck_detector", params={"repeat": 3}),)}
    )
    assert validate_text(dump(good), "g.yaml").helpers[0].params == {"repeat": 3}
    cli = CliRunner().invoke(app, ["scaffold", "validate", str(path)])
    assert cli.exit_code == 1 and "helper 'stuck_detector': invalid params: repeat" in cli.output


@pytest.mark.parametrize(
    ("template", "refused"),
    [
        ("{{ 'x' * 50000000 }}", None),  # passes the check; the sandbox stops it at render
        ("{{ 'x'|center(50000000) }}", "filter 'center'"),
        ("{{ ('x' ~ 'y')|truncate(3, true, 'z' * 50000000) }}", None),
    ],
)
def test_checking_a_template_evaluates_nothing(template: str, refused: str | None) -> None:
    """Jinja's compiler folds constants; folding these while checking would build 50 MB."""
    tracemalloc.start()
    try:
        if refused is None:
            check_template(template, frozenset())
        else:
            with pytest.raises(TemplateRefused, match=refused):
                check_template(template, frozenset())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    if refused is None:
        with pytest.raises(SecurityError, match="would make a value of 50000000 items"):
            render(compile_template(template), {})


def test_an_episode_whose_template_the_sandbox_stops_ends_with_the_reason(tmp_path: Path) -> None:
    base = load("crafter-v0")
    prompts = base.prompts.model_copy(update={"plan_turn": "{{ observation * 100000000 }}"})
    trace, _ = play(tmp_path, [], scaffold=base.model_copy(update={"prompts": prompts}))
    # LineEnv's first observation, "You are at cell 0 of 5.", is 23 characters.
    assert trace.end is not None and trace.end.status == "error"
    assert trace.end.reason == (
        "ValueError: scaffold 'crafter-v0': template prompts.plan_turn was stopped by the "
        "template sandbox: '*' would make a value of 2300000000 items (limit 1000000)"
    )
