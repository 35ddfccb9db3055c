"""The file helpers (status_file, prune_file, inject_tail, auto_log) in real Crafter episodes.

Each runs through the real agent loop with a scripted model on Crafter seed 0, so the files
are written by the real memory store, traced, and rebuilt from the trace.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from automem.agent.helpers import build_helpers
from automem.envs.crafter.env import CrafterEnv
from automem.memory import MemoryLimits, rebuild
from automem.scaffold import HelperConfig, Scaffold, load
from automem.traces import Trace
from automem.traces.schema import CommandRecord
from tests.conftest import play
from tests.helper_play import THREE_WOOD, replies

FIRST_WOOD = THREE_WOOD[:6]  # five moves, then Do fells a tree: reward +1 at step 5


def scaffold(*helpers: tuple[str, dict], limits: MemoryLimits | None = None) -> Scaffold:
    base = load("crafter-v0")
    update: dict = {"helpers": tuple(HelperConfig(name=n, params=p) for n, p in helpers)}
    if limits is not None:
        update["limits"] = limits
    return base.model_copy(update=update)


def run(tmp_path: Path, actions, logs=None, *helpers, limits=None):
    trace, model = play(
        tmp_path,
        replies(actions, logs),
        max_steps=len(actions),
        scaffold=scaffold(*helpers, limits=limits),
        env=CrafterEnv(),
    )
    assert trace.end is not None and trace.end.status == "finished", trace.end
    return trace, model


def helper_writes(trace: Trace, file: str) -> list[CommandRecord]:
    return [c for c in trace.commands if c.phase == "helper" and c.file == file]


def assert_rebuilds(trace: Trace, memory: Path) -> None:
    rebuilt = rebuild(trace.journal(), trace.header.initial_files, limits=trace.header.limits)
    on_disk = {p.name: p.read_text() for p in memory.iterdir()}
    assert rebuilt == on_disk


def plan_prompts(model) -> list[str]:
    return [r.messages[1].content for r in model.requests if r.phase == "plan"]


# --------------------------------------------------------------------------- status_file


def test_status_file_is_rewritten_from_its_template(tmp_path: Path) -> None:
    template = "step {step} at {position}\nlast: {action} -> {outcome}\nreturn {return}"
    logs = {1: "<|READ|>status<|END|><|DONE|>"}
    trace, _ = run(tmp_path, FIRST_WOOD, logs, ("status_file", {"template": template}))
    read = next(c for c in trace.commands if c.op == "READ")
    assert read.result == "step 1 at 31, 32\nlast: Move West -> no reward\nreturn 0"
    final = (tmp_path / "memory" / "status").read_text()
    assert final == (
        "step 6 at 31, 29\nlast: Do -> reward +1; progression 0.0% -> 4.5%\nreturn 1\n"
    )
    writes = helper_writes(trace, "status")
    assert [(c.step, c.op, c.turn) for c in writes] == [(s, "WRITE", -1) for s in range(7)]
    assert_rebuilds(trace, tmp_path / "memory")


def test_status_file_fields_and_only_on_change(tmp_path: Path) -> None:
    steady = ("status_file", {"file": "steady", "template": "level {level}, {valid}"})
    always = ("status_file", {"file": "always", "template": "{level}", "only_on_change": False})
    info = ("status_file", {"file": "info", "template": "{info.step}|{info.nope}|{short_term}"})
    trace, _ = run(tmp_path / "a", ["Noop", "not an action", "Noop"], None, steady, always, info)
    # Crafter has one map (level unknown); the write happens only when the text changes.
    assert [c.step for c in helper_writes(trace, "steady")] == [0, 1, 2, 3]
    assert (tmp_path / "a" / "memory" / "steady").read_text() == "level unknown, yes\n"
    assert [c.step for c in helper_writes(trace, "always")] == [0, 1, 2, 3]
    history = [c.args[1] for c in helper_writes(trace, "steady")]
    assert history == ["level unknown, none", "level unknown, yes", "level unknown, no",
                       "level unknown, yes"]  # fmt: skip
    text = (tmp_path / "a" / "memory" / "info").read_text()
    assert text.startswith("3|unknown|Your status:\n- health: 9/9\n")
    constant = ("status_file", {"file": "constant", "template": "{level}"})
    trace, _ = run(tmp_path / "b", ["Noop", "Noop", "Noop"], None, constant)
    assert [c.step for c in helper_writes(trace, "constant")] == [0]


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{bogus}", r"unknown field \{bogus\}"),
        ("{action.__class__}", r"unknown field \{action.__class__\}"),
        ("a { b", "not part of a {field} placeholder"),
        ("{info.a b}", r"unknown field \{info.a b\}"),
    ],
)
def test_status_file_refuses_a_bad_template(template: str, problem: str) -> None:
    config = HelperConfig(name="status_file", params={"template": template})
    with pytest.raises(ValueError, match=rf"helper 'status_file': invalid params: template: .*"
                       rf"{problem}"):  # fmt: skip
        build_helpers([config])


def test_file_helpers_refuse_a_bad_file_name() -> None:
    for name in ("status_file", "inject_tail", "auto_log"):
        with pytest.raises(ValueError, match=r"invalid memory file name '\.\./x'"):
            build_helpers([HelperConfig(name=name, params={"file": "../x"})])


# --------------------------------------------------------------------------- prune_file


def test_prune_file_keeps_the_last_lines_and_a_head(tmp_path: Path) -> None:
    logs = {
        s: f"<|APPEND|>actions_log|line {s}<|END|><|APPEND|>strategy|line {s}<|END|><|DONE|>"
        for s in range(1, 7)
    }
    plain = ("prune_file", {"files": ["actions_log"], "max_lines": 4, "keep_lines": 2})
    headed = ("prune_file", {"files": ["strategy"], "max_lines": 4, "keep_lines": 2,
                             "keep_head": 1})  # fmt: skip
    trace, _ = run(tmp_path, ["Noop"] * 7, logs, plain, headed)
    memory = tmp_path / "memory"
    # Checked before each LOG: 5 lines at step 6 are cut to the last 2, then LOG adds line 6.
    assert (memory / "actions_log").read_text() == "line 4\nline 5\nline 6\n"
    assert (memory / "strategy").read_text() == "line 1\nline 4\nline 5\nline 6\n"
    assert [c.step for c in helper_writes(trace, "actions_log")] == [6]
    assert [c.step for c in helper_writes(trace, "strategy")] == [6]
    assert_rebuilds(trace, memory)


def test_prune_file_parameters_must_shorten_the_file() -> None:
    bad = {"max_lines": 10, "keep_lines": 8, "keep_head": 2}
    with pytest.raises(ValueError, match=r"keep_head \+ keep_lines \(2 \+ 8\) must be less"):
        build_helpers([HelperConfig(name="prune_file", params=bad)])
    with pytest.raises(ValueError, match="files: Tuple should have at least 1 item"):
        build_helpers([HelperConfig(name="prune_file", params={"files": []})])


# --------------------------------------------------------------------------- inject_tail


def test_inject_tail_shows_the_end_of_a_file_in_plan(tmp_path: Path) -> None:
    logs = {s: f"<|APPEND|>actions_log|line {s}<|END|><|DONE|>" for s in range(1, 4)}
    tail = ("inject_tail", {"file": "actions_log", "lines": 2})
    missing = ("inject_tail", {"file": "nowhere", "phases": ["log", "plan"]})
    _, model = run(tmp_path, ["Noop"] * 4, logs, tail, missing)
    prompts = plan_prompts(model)
    assert "The last" not in prompts[0]  # the file is still empty
    assert "The last 1 lines of actions_log:\nline 1\n" in prompts[1]
    assert "The last 2 lines of actions_log:\nline 2\nline 3\n" in prompts[3]
    log_prompts = [r.messages[1].content for r in model.requests if r.phase == "log"]
    assert all("The last" not in p for p in log_prompts)  # PLAN only, and never 'nowhere'


# --------------------------------------------------------------------------- auto_log


def test_auto_log_fills_the_gaps_after_the_outcome_was_seen(tmp_path: Path) -> None:
    logs = {
        2: "<|APPEND|>strategy|find trees<|END|><|DONE|>",
        3: "<|APPEND|>actions_log|step 2: walked north<|END|><|DONE|>",
    }
    any_file = ("auto_log", {})
    this_file = ("auto_log", {"file": "auto", "scope": "this_file", "template": "{action}"})
    tail = ("inject_tail", {"file": "actions_log", "lines": 1})
    actions = [*FIRST_WOOD, "Noop"]
    trace, model = run(tmp_path, actions, logs, any_file, this_file, tail)
    memory = tmp_path / "memory"
    assert (memory / "actions_log").read_text() == (
        "step 0: Move West -> no reward\n"  # written at step 1: LOG wrote nothing
        "step 2: walked north\n"  # the model's own line at step 3
        "step 3: Move North -> no reward\n"
        "step 4: Move North -> nothing changed\n"  # facing the tree: a turn, no move
        "step 5: Do -> reward +1; progression 0.0% -> 4.5%\n"
    )
    assert (memory / "auto").read_text() == "\n".join(FIRST_WOOD) + "\n"
    writes = helper_writes(trace, "actions_log")
    assert [(c.step, c.op) for c in writes] == [(1, "APPEND"), (4, "APPEND"), (5, "APPEND"),
                                               (6, "APPEND")]  # fmt: skip
    # The invariant: each line comes after its step's LOG and before its PLAN.
    order = {id(c): i for i, c in enumerate(trace.commands)}
    for write in writes:
        same_step = [c for c in trace.commands if c.step == write.step]
        assert all(order[id(c)] < order[id(write)] for c in same_step if c.phase == "log")
        assert all(order[id(c)] > order[id(write)] for c in same_step if c.phase == "plan")
    # ... so this step's PLAN already shows it.
    assert "The last 1 lines of actions_log:\nstep 5: Do -> reward +1" in plan_prompts(model)[6]
    assert_rebuilds(trace, memory)


def test_auto_log_refusal_is_shown_and_the_episode_goes_on(tmp_path: Path) -> None:
    limits = MemoryLimits(max_file_bytes=40)  # room for one line
    trace, model = run(tmp_path, ["Noop"] * 4, None, ("auto_log", {}), limits=limits)
    writes = helper_writes(trace, "actions_log")
    assert [(c.step, c.ok) for c in writes] == [(1, True), (2, False), (3, False)]
    note = "NOTE (auto_log could not write actions_log): ERROR: APPEND to actions_log refused"
    assert [note in prompt for prompt in plan_prompts(model)] == [False, False, True, True]
    assert_rebuilds(trace, tmp_path / "memory")


def test_auto_log_template_is_one_line() -> None:
    with pytest.raises(ValueError, match="template must be one line"):
        build_helpers([HelperConfig(name="auto_log", params={"template": "{action}\n{step}"})])
