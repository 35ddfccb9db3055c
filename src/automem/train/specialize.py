"""Loop 2 as one resumable command: collect, then per recipe select, train and evaluate.

A *recipe* is a data choice (selection criteria) and a LoRA configuration (TrainConfig
fields, a preset among them). The folder of a specialisation holds

* ``specialize.json``: the settings (a rerun must give the same ones);
* ``collect/``: the collection run; ``eval-base/``: the base model on the suite's
  evaluation seeds (shared by every recipe);
* ``recipes/NAME/``: ``recipe.json``, ``data/`` (the selection), ``train/`` (the training
  run) and ``eval/`` (the specialist on the same seeds as ``eval-base``);
* ``ledger.json``: one entry per recipe: data source, examples, LoRA configuration, train
  loss, base against specialist progression, per seed and as a paired interval, and what
  each did (:mod:`automem.train.behaviour`: well-formed memory replies per role, behaviour
  statistics).

Every step skips what is done (runs resume, a finished training returns its result, a
selection with the same criteria is kept), so rerunning the command continues it.

The specialist is run with the two-model spec ``memory=<base>,lora=<adapter>;action=<base>``
(:func:`specialist_spec`). The collection may draw its episodes differently from the
evaluations (``collect_constrained``, ``collect_routine``: e.g. constrained decoding with a
floor of memory commands), which then run as ``eval_constrained`` says, base and specialist
alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from automem.core import Frozen
from automem.runs.compare import compare_runs
from automem.runs.config import RoutineOverrides, RunConfig
from automem.runs.directory import RunDir, write_json_atomic
from automem.runs.runner import run as run_episodes
from automem.runs.suites import Suite, limit_suite, load_suite, suite_config
from automem.train.behaviour import run_behaviour
from automem.train.collect import CollectPlan, known_seeds, plan_collection, write_record
from automem.train.criteria import SelectCriteria
from automem.train.dataset import CRITERIA, EXAMPLES, STATS, select_and_write

SETTINGS, LEDGER, RECIPE = "specialize.json", "ledger.json", "recipe.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class Recipe(Frozen):
    name: str = Field(description="Folder name of the recipe (letters, digits, _ . -).")
    data: SelectCriteria = SelectCriteria()
    lora: dict[str, Any] = Field(
        default_factory=lambda: {"preset": "cpu-small"},
        description="TrainConfig fields (a preset among them); data and output_dir are set here.",
    )

    @field_validator("name")
    @classmethod
    def _safe(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError(f"recipe name {name!r}: use letters, digits, '_', '.' or '-'")
        return name

    @field_validator("lora")
    @classmethod
    def _not_paths(cls, lora: dict[str, Any]) -> dict[str, Any]:
        if {"data", "output_dir"} & set(lora):
            raise ValueError("a recipe's lora may not set data or output_dir (specialize does)")
        return lora


class Settings(Frozen):
    suite: str
    model: str = Field(description="The base model spec.")
    scaffolds: tuple[str, ...] = ()
    collect_episodes: int | None = Field(None, ge=1)
    eval_episodes: int | None = Field(None, ge=1, description="First N evaluation seeds per task.")
    max_steps: int | None = Field(None, ge=1)
    draw_seed: int = 0
    avoid: tuple[str, ...] = ()
    collect_constrained: bool | None = Field(
        None, description="Constrained decoding for the collection (None: the scaffold's)."
    )
    collect_routine: RoutineOverrides = Field(
        RoutineOverrides(),
        description="The collection's routine settings (a floor of memory commands, the "
        "temperature); the evaluations keep the scaffold's.",
    )
    eval_constrained: bool | None = Field(
        None, description="Constrained decoding for both evaluations (None: the scaffold's)."
    )
    recipes: tuple[Recipe, ...] = Field(min_length=1)

    @field_validator("recipes")
    @classmethod
    def _distinct(cls, recipes: tuple[Recipe, ...]) -> tuple[Recipe, ...]:
        names = [r.name for r in recipes]
        if len(set(names)) != len(names):
            raise ValueError(f"recipe names repeat: {names}")
        return recipes


RunFn = Callable[[RunConfig, Path], None]  # run (or resume) a config into a run directory
TrainFn = Callable[[Any], Any]  # TrainConfig -> TrainResult (automem.train.sft.train)


def run_to_completion(config: RunConfig, out: Path) -> None:
    """Run or resume; an episode left unfinished stops the specialisation (rerun to retry)."""
    result = run_episodes(config, out)
    if not result.complete:
        raise ValueError(
            f"{out}: {result.total - result.summary.episodes} episode(s) did not finish; "
            "rerun the same command to retry them"
        )


def specialist_spec(base: str, adapter: Path, served_as: str) -> str:
    """The two-model spec: the adapted base does the memory turns, the base commits.

    The embedded runtime (and any other in-process backend) loads the adapter file: its path
    goes in the spec, absolute (the evaluation may run elsewhere), and must survive the spec
    syntax (``;`` splits roles, ``,`` options and ``=`` a key from its value). An
    OpenAI-compatible server chooses among the adapters it serves by *name*: the spec names
    ``served_as`` (the recipe's name), under which the server must serve the trained PEFT
    adapter (vLLM ``--lora-modules NAME=PATH``, SGLang ``--lora-paths NAME=PATH``)."""
    from automem.models.registry import parse_spec
    from automem.models.roles import RoleSpecs

    if RoleSpecs.parse(base).two_model:
        raise ValueError(f"model {base!r}: specialize needs one base model, not a two-model spec")
    parsed = parse_spec(base)
    if "lora" in parsed.options:
        raise ValueError(
            f"model {base!r} already names a LoRA adapter; give the plain base model "
            "(specialize adds the trained adapter to the memory role)"
        )
    if parsed.backend == "openai":
        if parsed.options.get("lora_style") == "llamacpp":
            raise ValueError(
                f"model {base!r}: llama-server numbers its adapters by load order, which "
                "specialize cannot know; serve with vLLM or SGLang (adapters by name), or "
                "evaluate the specialist yourself with automem eval"
            )
        bad = sorted(set(",;=") & set(served_as))
        if bad or not served_as.strip():
            raise ValueError(f"adapter name {served_as!r}: a model spec cannot carry it")
        return f"memory={base},lora={served_as};action={base}"
    path = adapter.resolve()
    bad = sorted(set(",;=") & set(str(path)))
    if bad:
        raise ValueError(
            f"adapter {path}: the path holds {' '.join(map(repr, bad))}, which a model spec "
            "cannot carry; use an output folder without them"
        )
    return f"memory={base},lora={path};action={base}"


def evaluate_specialist(config: RunConfig, out: Path, run: RunFn) -> None:
    """The specialist's evaluation (a seam for tests, which may stand in for the runtime)."""
    run(config, out)


@dataclass(frozen=True)
class Plans:
    suite: Suite
    collect: CollectPlan
    evaluation: RunConfig


def plan(settings: Settings) -> Plans:
    """The collection and the evaluation run of ``settings`` (seeds disjoint by construction)."""
    from automem.scaffold import load

    suite = load_suite(settings.suite)
    capped = limit_suite(suite, max_steps=settings.max_steps)
    given = [(ref, load(ref)) for ref in settings.scaffolds]
    base = suite_config(capped, settings.model, given).model_copy(
        update={
            "constrained_output": settings.collect_constrained,
            "routine": settings.collect_routine,
        }
    )
    known = known_seeds([suite], [Path(p) for p in settings.avoid])
    collect = plan_collection(
        suite,
        base,
        known=known,
        episodes=settings.collect_episodes,
        draw_seed=settings.draw_seed,
    )
    evaluated = limit_suite(capped, episodes=settings.eval_episodes)
    evaluation = suite_config(evaluated, settings.model, given).model_copy(
        update={"constrained_output": settings.eval_constrained}
    )
    return Plans(suite, collect, evaluation)


def _check_settings(root: Path, settings: Settings) -> None:
    path = root / SETTINGS
    now = settings.model_dump(mode="json")
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        if before != now:
            changed = sorted(k for k in now if before.get(k) != now.get(k))
            raise ValueError(
                f"{root} holds a specialisation with other settings (differs in {changed}); "
                "rerun with the same ones to resume, or choose a new --out"
            )
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, now)


def select_step(recipe: Recipe, collected: Path, folder: Path) -> Path:
    """The recipe's dataset (kept when a selection with the same criteria is there)."""
    data = folder / "data"
    done = data / CRITERIA
    if done.is_file() and (data / STATS).is_file():
        stored = json.loads(done.read_text(encoding="utf-8"))
        if all(stored.get(k) == v for k, v in recipe.data.model_dump(mode="json").items()):
            return data
    select_and_write([collected], data, recipe.data)
    return data


def train_step(recipe: Recipe, data: Path, folder: Path, trainer: TrainFn) -> Any:
    from automem.train.config import resolve_config

    flags = {**recipe.lora, "data": data / EXAMPLES, "output_dir": folder / "train"}
    return trainer(resolve_config(flags))


def _served_by_name(spec: str) -> bool:
    """Whether the base is an OpenAI-compatible server (which picks adapters by name)."""
    from automem.models.registry import parse_spec

    return parse_spec(spec).backend == "openai"


def _base_model(spec: str) -> str | None:
    """The embedded model a ``local:NAME,...`` spec names (what training adapts), else None."""
    if not spec.startswith("local:"):
        return None
    return spec.removeprefix("local:").split(",", 1)[0] or None


def _per_seed(base: Path, specialist: Path) -> list[dict[str, Any]]:
    a, b = RunDir(base).finished(), RunDir(specialist).finished()
    by_key = {(e.env_id, e.seed): e for e in b.values()}
    rows = []
    for episode in sorted(a.values(), key=lambda e: (e.env_id, e.seed)):
        other = by_key.get((episode.env_id, episode.seed))
        if other is not None:
            rows.append(
                {
                    "env_id": episode.env_id,
                    "seed": episode.seed,
                    "base": episode.progression,
                    "specialist": other.progression,
                }
            )
    return rows


def ledger_entry(
    recipe: Recipe, data: Path, result: Any, base: Path, specialist: Path
) -> dict[str, Any]:
    """One line of the ledger: what the recipe used, trained and scored."""
    stats = json.loads((data / STATS).read_text(encoding="utf-8"))
    comparison = compare_runs(base, specialist)
    overall = comparison.overall
    trained = json.loads((Path(result.output_dir) / "config.json").read_text(encoding="utf-8"))
    rows = _per_seed(base, specialist)
    return {
        "recipe": recipe.name,
        "data": {
            "source": str(data),
            "criteria": recipe.data.model_dump(mode="json"),
            "examples": stats["examples"],
            "candidates": stats["candidates"],
        },
        "lora": {k: v for k, v in trained.items() if k not in ("data", "output_dir")},
        "train": {
            "steps": result.steps,
            "train_loss": result.train_loss,
            "first_loss": result.first_loss,
            "last_loss": result.last_loss,
            "adapter_gguf": result.adapter_gguf,
        },
        "eval": {
            "base": str(base),
            "specialist": str(specialist),
            "pairs": len(rows),
            "base_mean": sum(r["base"] for r in rows) / len(rows) if rows else None,
            "specialist_mean": sum(r["specialist"] for r in rows) / len(rows) if rows else None,
            "difference": overall.model_dump() if overall else None,
            "confidence": comparison.confidence,
            "per_seed": rows,
            # Replies with well-formed memory commands per role, and the behaviour statistics.
            "base_behaviour": run_behaviour(base),
            "specialist_behaviour": run_behaviour(specialist),
        },
    }


def specialize(
    settings: Settings,
    root: Path,
    *,
    run: RunFn = run_to_completion,
    trainer: TrainFn | None = None,
    evaluate: Callable[[RunConfig, Path, RunFn], None] = evaluate_specialist,
    say: Callable[[str], None] = lambda _: None,
) -> list[dict[str, Any]]:
    """Run (or resume) the whole loop; returns the ledger, also written to ledger.json."""
    if trainer is None:
        from automem.train.sft import train as trainer
    plans = plan(settings)
    _check_settings(root, settings)
    collected = root / "collect"
    say(f"collect: {plans.collect.config.episodes} episodes into {collected}")
    try:
        run(plans.collect.config, collected)
    finally:
        write_record(collected, plans.collect)
    base_eval = root / "eval-base"
    say(f"evaluate the base model: {plans.evaluation.episodes} episodes into {base_eval}")
    run(plans.evaluation, base_eval)
    ledger: list[dict[str, Any]] = []
    for recipe in settings.recipes:
        folder = root / "recipes" / recipe.name
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / RECIPE, recipe.model_dump(mode="json"))
        data = select_step(recipe, collected, folder)
        say(f"{recipe.name}: selected into {data}")
        lora = dict(recipe.lora)
        if "base_model" not in lora and (name := _base_model(settings.model)):
            lora["base_model"] = name
        result = train_step(recipe.model_copy(update={"lora": lora}), data, folder, trainer)
        say(f"{recipe.name}: {result.summary()}")
        if _served_by_name(settings.model):
            say(f"{recipe.name}: the server must serve {result.adapter} as {recipe.name!r}")
        elif result.adapter_gguf is None:
            raise ValueError(f"{recipe.name}: training wrote no GGUF adapter to serve")
        adapter = Path(result.adapter_gguf or result.adapter)
        spec = specialist_spec(settings.model, adapter, recipe.name)
        specialist = folder / "eval"
        evaluate(plans.evaluation.model_copy(update={"model": spec}), specialist, run)
        ledger.append(ledger_entry(recipe, data, result, base_eval, specialist))
        write_json_atomic(root / LEDGER, ledger)
    return ledger
