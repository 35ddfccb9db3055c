"""Models by role: the spec syntax, its errors, run.json and the refusal to mix identities."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automem.cli import app
from automem.core import ModelIdentity
from automem.models import registry
from automem.models.registry import ModelSpec
from automem.models.roles import RoleSpecs, combine, identity_mismatch
from automem.models.scripted import ScriptedModel
from automem.runs import Budget, RunConfig, RunDirError, run
from automem.traces import CallRecord, Trace

runner = CliRunner()
TWO = "memory=local:smollm2-135m,lora=a.gguf;action=local:smollm2-135m"


def test_a_plain_spec_is_the_agent_kept_exactly() -> None:
    spec = "openai:gpt-4o,base_url=http://127.0.0.1:8000/v1"
    roles = RoleSpecs.parse(spec)
    assert roles.agent == spec and not roles.two_model and roles.text == spec
    assert list(roles.items()) == [("agent", spec)]


def test_two_models_by_role_in_either_order_and_with_spaces() -> None:
    roles = RoleSpecs.parse(" action = local:smollm2-135m ; memory=local:smollm2-135m,lora=a.gguf")
    assert roles.two_model and roles.text == TWO
    assert dict(roles.items()) == {
        "memory": "local:smollm2-135m,lora=a.gguf",
        "action": "local:smollm2-135m",
    }
    assert combine("local:smollm2-135m,lora=a.gguf", "local:smollm2-135m") == TWO


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty model spec"),
        ("memory=scripted", "no action model; a two-model spec names both roles"),
        ("action=scripted;", "no memory model"),
        ("agent=scripted", "a one-model spec is written plainly"),
        ("memory=a;memory=b;action=c", "role 'memory' is given twice"),
        ("memory= ;action=scripted", "role 'memory' has an empty spec"),
        ("planner=x;action=y", "unknown role 'planner'; roles: memory, action"),
        ("scripted;action=x", "'scripted' names no role; write memory=<spec>;action=<spec>"),
    ],
)
def test_bad_role_specs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RoleSpecs.parse(text)


def test_the_run_config_stores_the_canonical_form_and_one_model_unchanged() -> None:
    two = RunConfig(env="line", model="action=scripted; memory=scripted:slip=0", seeds=[1])
    assert two.model == "memory=scripted:slip=0;action=scripted"
    assert two.roles.memory == "scripted:slip=0"
    one = RunConfig(env="line", model="scripted", seeds=[1])
    assert one.model_dump(mode="json") == {
        "model": "scripted",
        "tasks": [{"env": "line", "seeds": [1], "max_steps": None, "scaffold": None}],
        "constrained_output": None,
    }
    with pytest.raises(ValueError, match=r"model\n.*no action model"):
        RunConfig(env="line", model="memory=scripted", seeds=[1])


def test_identity_mismatch_compares_weights_not_settings() -> None:
    old = ModelIdentity(
        spec="local:m.gguf", backend="local", name="m.gguf", details={"sha256": "a", "n_ctx": 8}
    )
    same_weights = old.model_copy(update={"details": {"sha256": "a", "n_ctx": 16}})
    other = old.model_copy(update={"details": {"sha256": "b", "n_ctx": 8}})
    recorded = {"agent": old.model_dump(mode="json")}
    assert identity_mismatch(recorded, {"agent": same_weights}) is None
    assert identity_mismatch(recorded, {"agent": other}) == "agent model sha256: 'a' -> 'b'"
    assert "roles ['agent'] were recorded" in str(
        identity_mismatch(recorded, {"memory": old, "action": old})
    )


# --------------------------------------------------------------------------- runs


@pytest.fixture
def weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``weights:PATH`` backend: the scripted model, its identity the file's digest."""
    path = tmp_path / "weights.bin"
    path.write_bytes(b"first weights")

    def factory(spec: ModelSpec, seed: int) -> ScriptedModel:
        model = ScriptedModel(seed, slip_rate=0.0, spec=spec.text)
        digest = hashlib.sha256(Path(str(spec.name)).read_bytes()).hexdigest()
        model.identity = model.identity.model_copy(
            update={"backend": "weights", "details": {"sha256": digest}}
        )
        return model

    monkeypatch.setitem(registry._BACKENDS, "weights", factory)
    return path


def test_a_two_model_run_records_both_roles_in_run_json_and_traces(
    tmp_path: Path, weights: Path
) -> None:
    spec = combine(f"weights:{weights}", "scripted:slip=0")
    config = RunConfig(env="crafter", model=spec, seeds=[3], max_steps=2)
    result = run(config, tmp_path / "run")
    assert result.complete
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["config"]["model"] == spec
    assert set(record["models"]) == {"memory", "action"}
    assert (
        record["models"]["memory"]["details"]["sha256"]
        == hashlib.sha256(b"first weights").hexdigest()
    )
    assert record["model"]["backend"] == "two-model"
    trace = Trace.read(tmp_path / "run" / "episodes" / "crafter__seed3" / "trace.jsonl")
    assert set(trace.header.roles) == {"memory", "action"}
    roles = {(c.phase, c.role) for c in trace.of_type(CallRecord)}
    assert ("log", "memory") in roles and ("plan", "memory") in roles
    assert roles <= {("log", "memory"), ("plan", "memory"), ("plan", "action")}


def test_resume_refuses_episodes_of_other_weights_under_the_same_spec(
    tmp_path: Path, weights: Path
) -> None:
    config = RunConfig(env="crafter", model=f"weights:{weights}", seeds=[3, 4], max_steps=2)
    out = tmp_path / "run"
    first = run(config, out, budget=Budget(max_tokens=1))  # stops early: a run to resume
    assert not first.complete
    before = sorted(p.name for p in (out / "episodes").rglob("*"))
    weights.write_bytes(b"retrained weights")
    with pytest.raises(RunDirError, match=r"different model identity .*agent model sha256: '"):
        run(config, out)
    assert sorted(p.name for p in (out / "episodes").rglob("*")) == before  # nothing written
    weights.write_bytes(b"first weights")
    assert run(config, out).complete  # the run's own model resumes it


def test_an_older_run_json_without_models_still_resumes(tmp_path: Path) -> None:
    config = RunConfig(env="crafter", model="scripted", seeds=[3], max_steps=2)
    out = tmp_path / "run"
    run(config, out)
    record = json.loads((out / "run.json").read_text())
    del record["models"]
    (out / "run.json").write_text(json.dumps(record))
    result = run(config, out)
    assert result.complete and result.ran == 0


def test_cli_memory_and_action_model_options(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["run", "--env", "crafter", "--max-steps", "2", "--out", str(out)]
    ok = runner.invoke(
        app, [*args, "--memory-model", "scripted:slip=0", "--action-model", "scripted"]
    )
    assert ok.exit_code == 0, ok.output
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["model"] == "memory=scripted:slip=0;action=scripted"
    again = runner.invoke(app, [*args, "--model", "memory=scripted:slip=0;action=scripted"])
    assert again.exit_code == 0 and "Nothing to do" in again.output
    half = runner.invoke(app, [*args, "--memory-model", "scripted"])
    assert half.exit_code == 2 and "a two-model run needs --action-model too" in half.output
    both = runner.invoke(
        app, [*args, "--model", "scripted", "--memory-model", "a", "--action-model", "b"]
    )
    assert both.exit_code == 2 and "not both" in both.output
    bad = runner.invoke(app, [*args, "--model", "memory=scripted;actor=scripted"])
    assert bad.exit_code == 2 and "unknown role 'actor'" in bad.output


def test_cli_eval_takes_the_two_model_options(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        [
            *("eval", "--suite", "crafter", "--episodes", "1", "--max-steps", "2"),
            *("--out", str(out), "--memory-model", "scripted", "--action-model", "scripted"),
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["model"] == "memory=scripted;action=scripted"
    assert set(record["models"]) == {"memory", "action"}
