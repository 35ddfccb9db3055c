"""The ``automem collect`` and ``automem select`` commands (loop 2's data), registered by cli.py.

Each factory takes the CLI's ``fail`` (a user error exits with one line) and returns the
command function; ``collect`` also takes the CLI's run launcher, so a collection shows the
same progress, summary and exit codes as ``automem eval``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

# The collection floors (automem.scaffold.model.Routine), shared by collect and specialize.
LogMinWrites = Annotated[
    int | None,
    typer.Option(
        help="Collection, with constrained decoding: each step's first LOG turn opens with this "
        "many writes (APPEND, WRITE, UPSERT_MAP). Recorded in run.json and collect.json."
    ),
]
PlanMinReads = Annotated[
    int | None,
    typer.Option(
        help="Collection, with constrained decoding: each step's first PLAN turn issues this "
        "many reads and no ACTION."
    ),
]
Fail = Callable[[str], Exception]
Launch = Callable[..., None]  # cli._launch(config, out, workers, executor, max_cost, max_tokens)


def collect_command(fail: Fail, launch: Launch) -> Callable[..., None]:
    def collect_cmd(
        suite: Annotated[
            str, typer.Option(help="Suite whose tasks to collect on (built-in name or YAML).")
        ],
        out_dir: Annotated[Path, typer.Option("--out", help="Run directory (created or resumed).")],
        model: Annotated[str, typer.Option(help="Model spec (see `automem run --help`).")] = (
            "local:smollm2-135m"
        ),
        scaffold: Annotated[
            list[str] | None,
            typer.Option(help="Scaffold name or YAML path per game (default: its v0)."),
        ] = None,
        episodes: Annotated[
            int | None,
            typer.Option(help="Episodes per task (default: the reference size of its game)."),
        ] = None,
        seeds: Annotated[
            str | None,
            typer.Option(help="Explicit seeds for every task ('1000-1009'), checked, not drawn."),
        ] = None,
        draw_seed: Annotated[int, typer.Option(help="Seed of the seed draw (recorded).")] = 0,
        avoid: Annotated[
            list[Path] | None,
            typer.Option(
                help="A run or optimisation folder whose runs' seeds must not be collected on "
                "(every run.json under it); repeat for several."
            ),
        ] = None,
        avoid_suite: Annotated[
            list[str] | None, typer.Option(help="Another suite whose seeds to avoid; repeatable.")
        ] = None,
        task: Annotated[
            list[str] | None, typer.Option(help="Only tasks whose env id matches; repeatable.")
        ] = None,
        max_steps: Annotated[int | None, typer.Option(help="Cap every episode's steps.")] = None,
        constrained: Annotated[
            bool | None,
            typer.Option("--constrained/--free", help="Constrain decoding to the grammar, or not."),
        ] = None,
        log_min_writes: LogMinWrites = None,
        plan_min_reads: PlanMinReads = None,
        temperature: Annotated[
            float | None, typer.Option(help="Sampling temperature (default: the scaffold's).")
        ] = None,
        workers: Annotated[int, typer.Option(help="Episodes run in parallel.")] = 1,
        executor: Annotated[str, typer.Option(help="local, thread or ray.")] = "local",
        max_cost: Annotated[float | None, typer.Option(help="USD cap on model calls.")] = None,
        max_tokens: Annotated[int | None, typer.Option(help="Token cap on model calls.")] = None,
    ) -> None:
        """Collect episodes for loop 2 on seeds disjoint from every known evaluation seed.

        Seeds are drawn reproducibly (--draw-seed) from 1000..99999, skipping the seeds of
        the built-in suites, of --suite and --avoid-suite, and of every run under --avoid.
        Rerun the same command to resume.
        """
        from automem.runs.config import RoutineOverrides, parse_seeds
        from automem.runs.suites import limit_suite, load_suite, suite_config
        from automem.scaffold import ScaffoldError, load
        from automem.train.collect import known_seeds, plan_collection, write_record

        try:
            chosen = load_suite(suite)
            limited = limit_suite(chosen, patterns=task or (), max_steps=max_steps)
            given = [(ref, load(ref)) for ref in scaffold or []]
            routine = RoutineOverrides(
                log_min_writes=log_min_writes,
                plan_min_reads=plan_min_reads,
                temperature=temperature,
            )
            base = suite_config(limited, model, given).model_copy(
                update={"constrained_output": constrained, "routine": routine}
            )
            others = [load_suite(s) for s in avoid_suite or []]
            known = known_seeds([chosen, *others], avoid or [])
            plan = plan_collection(
                chosen,
                base,
                known=known,
                episodes=episodes,
                seeds=parse_seeds(seeds) if seeds is not None else None,
                draw_seed=draw_seed,
            )
        except (ScaffoldError, ValueError) as exc:
            raise fail(str(exc)) from None
        typer.echo(
            f"Collecting {plan.config.episodes} episodes on {len(plan.config.tasks)} task(s), "
            f"avoiding {sum(len(v) for v in known.values())} known seeds."
        )
        try:
            launch(plan.config, out_dir, workers, executor, max_cost, max_tokens)
        finally:
            write_record(out_dir, plan)

    return collect_cmd


def select_command(fail: Fail) -> Callable[..., None]:
    def select_cmd(
        runs: Annotated[list[Path], typer.Argument(help="Run directories to select from.")],
        out_dir: Annotated[Path, typer.Option("--out", help="Folder for the dataset.")],
        criteria: Annotated[
            Path | None, typer.Option(help="YAML file of selection criteria (field: value).")
        ] = None,
        top_share: Annotated[
            float | None, typer.Option(help="Keep the top share of episodes per environment.")
        ] = None,
        min_score: Annotated[float | None, typer.Option(help="Minimum turn score.")] = None,
        min_progression: Annotated[
            float | None, typer.Option(help="Minimum episode progression.")
        ] = None,
        horizon: Annotated[
            int | None, typer.Option(help="Steps a retrieval may precede progress by.")
        ] = None,
        judge: Annotated[
            str | None, typer.Option(help="Model spec of an LLM judge (tool calling).")
        ] = None,
        judge_mode: Annotated[
            str | None,
            typer.Option(help="veto: the judge may reject accepted turns; decide: it decides."),
        ] = None,
    ) -> None:
        """Select verbatim LOG and PLAN memory turns of runs into a training dataset.

        Writes examples.jsonl (chat), examples.sharegpt.jsonl, decisions.jsonl, stats.json,
        criteria.json and verbatim.json to --out.
        """
        from automem.train.criteria import load_criteria

        overrides: dict[str, Any] = {
            "top_share": top_share,
            "min_score": min_score,
            "min_progression": min_progression,
            "horizon": horizon,
            "judge": judge,
            "judge_mode": judge_mode,
        }
        try:
            chosen = load_criteria(criteria, **overrides)
            summary = run_selection(runs, out_dir, chosen)
        except ValueError as exc:
            raise fail(str(exc)) from None
        typer.echo(summary)

    return select_cmd


def run_selection(runs: list[Path], out_dir: Path, criteria: Any) -> str:
    """Select and write; returns the summary line."""
    from automem.train.dataset import select_and_write

    selection = select_and_write(runs, out_dir, criteria)
    return (
        f"reviewed {len(selection.decisions)} turns of {len(selection.episodes)} episodes: "
        f"accepted {len(selection.examples)} as examples in {out_dir}"
    )


def specialize_command(fail: Fail, launch: Launch) -> Callable[..., None]:
    def specialize_cmd(
        suite: Annotated[str, typer.Option(help="Suite to collect on and evaluate with.")],
        out_dir: Annotated[Path, typer.Option("--out", help="Folder (created or resumed).")],
        model: Annotated[str, typer.Option(help="The base model spec.")] = "local:smollm2-135m",
        scaffold: Annotated[
            list[str] | None, typer.Option(help="Scaffold per game (default: its v0).")
        ] = None,
        recipes: Annotated[
            Path | None,
            typer.Option(help="YAML list of recipes: name, data (criteria), lora (train fields)."),
        ] = None,
        preset: Annotated[
            str, typer.Option(help="Training preset of the default recipe.")
        ] = "cpu-small",
        episodes: Annotated[
            int | None, typer.Option(help="Collection episodes per task (default: reference).")
        ] = None,
        eval_episodes: Annotated[
            int | None, typer.Option(help="Evaluate on the first N seeds of each task.")
        ] = None,
        max_steps: Annotated[int | None, typer.Option(help="Cap every episode's steps.")] = None,
        draw_seed: Annotated[int, typer.Option(help="Seed of the collection seed draw.")] = 0,
        avoid: Annotated[
            list[Path] | None, typer.Option(help="Run or optimisation folder whose seeds to avoid.")
        ] = None,
        collect_constrained: Annotated[
            bool | None,
            typer.Option(
                "--collect-constrained/--collect-free",
                help="Constrain the collection's decoding to the grammar (default: scaffold's).",
            ),
        ] = None,
        log_min_writes: LogMinWrites = None,
        plan_min_reads: PlanMinReads = None,
        collect_temperature: Annotated[
            float | None, typer.Option(help="Collection: the sampling temperature.")
        ] = None,
        eval_constrained: Annotated[
            bool | None,
            typer.Option(
                "--eval-constrained/--eval-free",
                help="Constrain both evaluations' decoding (default: the scaffold's).",
            ),
        ] = None,
        workers: Annotated[int, typer.Option(help="Episodes run in parallel.")] = 1,
    ) -> None:
        """Loop 2 in one command: collect, select, train, evaluate base against specialist.

        Writes a ledger of recipes and their evaluations (ledger.json); rerun to resume.
        """
        import yaml

        from automem.runs.config import RoutineOverrides
        from automem.train.specialize import Recipe, Settings, specialize

        try:
            listed = (
                yaml.safe_load(recipes.read_text(encoding="utf-8"))
                if recipes is not None
                else [{"name": "default", "lora": {"preset": preset}}]
            )
            if not isinstance(listed, list):
                raise ValueError(f"{recipes}: a YAML list of recipes expected")
            settings = Settings(
                suite=suite,
                model=model,
                scaffolds=tuple(scaffold or ()),
                collect_episodes=episodes,
                eval_episodes=eval_episodes,
                max_steps=max_steps,
                draw_seed=draw_seed,
                avoid=tuple(str(p) for p in avoid or ()),
                collect_constrained=collect_constrained,
                collect_routine=RoutineOverrides(
                    log_min_writes=log_min_writes,
                    plan_min_reads=plan_min_reads,
                    temperature=collect_temperature,
                ),
                eval_constrained=eval_constrained,
                recipes=tuple(Recipe.model_validate(r) for r in listed),
            )

            def run(config: Any, out: Path) -> None:
                launch(config, out, workers, "local", None, None)

            ledger = specialize(settings, out_dir, run=run, say=typer.echo)
        except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            raise fail(str(exc).replace("\n", " ")) from None
        for entry in ledger:
            difference = entry["eval"]["difference"]
            shown = "n/a" if difference is None else f"{100 * difference['mean']:+.2f} points"
            typer.echo(f"{entry['recipe']}: specialist - base progression {shown}")

    return specialize_cmd
