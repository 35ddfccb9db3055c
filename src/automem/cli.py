"""The `automem` command line: thin commands over the library functions."""

from __future__ import annotations

import faulthandler
import os
import sys
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from automem import __version__

if TYPE_CHECKING:
    from automem.runs.config import RunConfig, SkippedTask
    from automem.runs.runner import RunResult
    from automem.runs.summary import RunSummary

app = typer.Typer(
    help="AutoMem: LLM agents that manage their own file memory on long-horizon games.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
scaffold_app = typer.Typer(help="Inspect, validate and compare scaffolds.", no_args_is_help=True)
env_app = typer.Typer(help="List and inspect text environments.", no_args_is_help=True)
app.add_typer(scaffold_app, name="scaffold")
model_app = typer.Typer(help="Check model backends before a long run.", no_args_is_help=True)
app.add_typer(env_app, name="env")
app.add_typer(model_app, name="model")

# Off a terminal (pipes, CI logs) rich assumes 80 columns, which squeezes tables: use more.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


RUNTIME_BROKEN = 3  # exit status: the local model runtime's build cannot run here (rebuild it)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a problem the user can fix, without a traceback."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def version_callback(value: bool) -> None:
    if value:
        out.print(f"automem {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """AutoMem command line."""
    # A crash in native code (the llama.cpp runtime) then prints at least a Python stack;
    # worker processes inherit it through the environment.
    if not faulthandler.is_enabled() and sys.__stderr__ is not None:
        faulthandler.enable(file=sys.__stderr__)
    os.environ.setdefault("PYTHONFAULTHANDLER", "1")


# --------------------------------------------------------------------------- run


WorkersOpt = Annotated[int, typer.Option(help="Episodes run in parallel.")]
ExecutorOpt = Annotated[
    str,
    typer.Option(
        help="Run parallel episodes in a 'local' process pool (isolation, CPU), in 'thread's "
        "(many episodes waiting on one remote model) or as 'ray' tasks (a local Ray instance or "
        "a cluster)."
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(help="Ray cluster address for --executor ray (default: a local instance)."),
]
MaxCostOpt = Annotated[
    float | None,
    typer.Option(help="Stop once this many USD were spent on model calls; finished work is kept."),
]
MaxTokensOpt = Annotated[
    int | None,
    typer.Option(help="Stop once this many model tokens were used; finished work is kept."),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        help="Model spec: 'local:smollm2-135m' (embedded, no server), 'openai:NAME,base_url=URL', "
        "'anthropic:NAME', 'scripted' (tests), or two models by role "
        "'memory=SPEC;action=SPEC'. See `automem model check`. [default: local:smollm2-135m]",
        show_default=False,
    ),
]
MemoryModelOpt = Annotated[
    str | None,
    typer.Option(
        help="Two-model run: the memory model's spec (all of LOG, PLAN's memory turns); needs "
        "--action-model. Same as --model 'memory=SPEC;action=SPEC'."
    ),
]
ActionModelOpt = Annotated[
    str | None,
    typer.Option(help="Two-model run: the action model's spec (commits the action)."),
]
ConstrainedOpt = Annotated[
    bool | None,
    typer.Option(
        "--constrained/--free",
        help="Constrain decoding to the command grammar (or not), overriding the scaffold's "
        "routine.constrained_output.",
    ),
]
PluginOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--plugin",
        help="A module ('pkg.mod') or Python file ('path/file.py') to import first, in this "
        "process and in every worker: it may register helpers, model backends and environments. "
        "Repeat for several.",
    ),
]
DEFAULT_MODEL = "local:smollm2-135m"


@app.command("run")
def run_cmd(
    env: Annotated[str, typer.Option(help="Environment id (see `automem env list`).")] = "crafter",
    model: ModelOpt = None,
    memory_model: MemoryModelOpt = None,
    action_model: ActionModelOpt = None,
    constrained: ConstrainedOpt = None,
    scaffold: Annotated[
        str | None,
        typer.Option(help="Built-in scaffold name or YAML path; default: the game's v0 scaffold."),
    ] = None,
    seeds: Annotated[
        str,
        typer.Option(
            help="Seeds: '42', a list '42,43' or a range '42-51'. One seed S with --episodes N "
            "means S..S+N-1."
        ),
    ] = "42",
    episodes: Annotated[int | None, typer.Option(help="Number of episodes.")] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Step cap per episode (default: the game's own cap).")
    ] = None,
    workers: WorkersOpt = 1,
    executor: ExecutorOpt = "local",
    max_cost: MaxCostOpt = None,
    max_tokens: MaxTokensOpt = None,
    ray_address: RayAddressOpt = None,
    plugin: PluginOpt = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Run directory (created or resumed).")
    ] = Path("runs/demo"),
) -> None:
    """Play episodes with an agent and write a resumable run directory.

    Rerunning the same command on a finished run does nothing; on an interrupted run it
    continues where it stopped, without losing or repeating finished episodes.
    """
    from automem import runs

    try:
        config = runs.RunConfig(
            env=env,
            model=_model_spec(model, memory_model, action_model),
            seeds=runs.parse_seeds(seeds, episodes),
            max_steps=max_steps,
            scaffold=scaffold,
            constrained_output=constrained,
            plugins=tuple(plugin or ()),
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    _launch(config, out_dir, workers, executor, max_cost, max_tokens, ray_address)


@app.command("eval")
def eval_cmd(
    suite: Annotated[
        str, typer.Option(help="Built-in suite (crafter, minihack, nethack, all) or a YAML file.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory (created or resumed).")],
    model: ModelOpt = None,
    memory_model: MemoryModelOpt = None,
    action_model: ActionModelOpt = None,
    constrained: ConstrainedOpt = None,
    scaffold: Annotated[
        list[str] | None,
        typer.Option(
            help="Scaffold name or YAML path, applied to the suite's tasks of its game; repeat "
            "for several games. Games without one use their v0 scaffold."
        ),
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option(
            help="Only the tasks whose env id contains this text or glob ('maze', "
            "'Quest-*'), ignoring case; repeat for several."
        ),
    ] = None,
    episodes: Annotated[
        int | None, typer.Option(help="Only the first N seeds of each task.")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Cap every task's episodes at this many steps.")
    ] = None,
    skip_missing: Annotated[
        bool,
        typer.Option(
            "--skip-missing",
            help="Run without the tasks whose data set is missing (recorded in run.json).",
        ),
    ] = False,
    workers: WorkersOpt = 1,
    executor: ExecutorOpt = "local",
    max_cost: MaxCostOpt = None,
    max_tokens: MaxTokensOpt = None,
    ray_address: RayAddressOpt = None,
    plugin: PluginOpt = None,
) -> None:
    """Evaluate an agent on a suite (the reference protocol by default), as one resumable run.

    --task, --episodes and --max-steps change the run's config: a resumed run needs the same.
    """
    from automem import envs
    from automem.runs.plugins import load_plugins
    from automem.runs.suites import limit_suite, load_suite, suite_config
    from automem.scaffold import ScaffoldError, load

    try:
        load_plugins(plugin or ())  # they may register the envs and helpers the suite names
        chosen = load_suite(suite)
        limited = limit_suite(chosen, patterns=task or (), episodes=episodes, max_steps=max_steps)
        missing = envs.missing_by_env(t.env for t in limited.tasks)
        if missing and not skip_missing:
            raise ValueError(
                f"{envs.missing_message(missing)} Or add --skip-missing to run the suite "
                "without these tasks."
            )
        given = [(ref, load(ref)) for ref in scaffold or []]
        spec = _model_spec(model, memory_model, action_model)
        config = suite_config(limited, spec, given, skip=missing).model_copy(
            update={"constrained_output": constrained, "plugins": tuple(plugin or ())}
        )
    except (ScaffoldError, ValueError) as exc:
        raise fail(str(exc)) from None
    skipped = f", {len(config.skipped)} task(s) skipped" if config.skipped else ""
    out.print(f"Suite {chosen.name} v{chosen.version}: {config.episodes} episodes{skipped}.")
    _launch(config, out_dir, workers, executor, max_cost, max_tokens, ray_address)


def _model_spec(model: str | None, memory: str | None, action: str | None) -> str:
    """The run's model text form from --model or --memory-model and --action-model."""
    if memory is None and action is None:
        return model or DEFAULT_MODEL
    if model is not None:
        raise ValueError("give --model, or --memory-model and --action-model, not both")
    if memory is None or action is None:
        missing = "--action-model" if action is None else "--memory-model"
        raise ValueError(f"a two-model run needs {missing} too")
    from automem.models.roles import combine

    return combine(memory, action)


def _launch(
    config: RunConfig,
    out_dir: Path,
    workers: int,
    executor: str,
    max_cost: float | None,
    max_tokens: int | None,
    ray_address: str | None = None,
) -> None:
    """Run a config showing its progress, then print what happened and the summary.

    Exits 1 when an episode has no result yet (stopped, failed or not started), 130 on Ctrl-C.
    """
    from automem import runs
    from automem.progress import RunProgress
    from automem.scaffold import ScaffoldError

    _check_executor(executor)  # before the progress display draws a bar per episode
    _check_local_runtime(config.model)
    display = RunProgress(err)
    try:
        budget = runs.Budget(max_cost_usd=max_cost, max_tokens=max_tokens)
        with display:
            result = runs.run(
                config,
                out_dir,
                workers=workers,
                executor=executor,  # type: ignore[arg-type]  # checked by run()
                budget=budget,
                progress=display.step,
                on_end=display.end,
                ray_address=ray_address,
            )
    except KeyboardInterrupt:
        raise fail(
            f"interrupted; the finished episodes are kept in {out_dir}: "
            "rerun the same command to resume",
            code=130,
        ) from None
    except (runs.RunDirError, runs.WorkerError, ScaffoldError, ValueError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        where = exc.filename or out_dir
        raise fail(
            f"cannot write {where}: {exc.strerror or exc}; the finished episodes are kept: "
            "fix this, then rerun the same command to resume"
        ) from None
    _report_run(result, out_dir, config.skipped)


def _report_run(result: RunResult, out_dir: Path, skipped: Sequence[SkippedTask]) -> None:
    for problem in result.problems:
        err.print(f"[yellow]not counted:[/] {escape(problem)}", highlight=False, soft_wrap=True)
    if result.budget_note:
        err.print(
            f"[yellow]Stopped:[/] {escape(result.budget_note)}; "
            f"{result.not_started} episode(s) not started.",
            soft_wrap=True,
        )
    if result.ran == 0 and result.complete:
        out.print(f"Nothing to do: all {result.skipped} episodes in {out_dir} are finished.")
    else:
        out.print(
            f"Ran {result.ran} episode(s) ({result.finished_now} finished), "
            f"{result.skipped} already finished."
        )
    _print_summary(result.summary, skipped)
    out.print(f"Run directory: {out_dir}")
    if not result.complete:
        missing = result.total - result.summary.episodes
        raise fail(
            f"{missing} of {result.total} episode(s) did not finish and are not counted "
            f"({len(result.summary.unfinished)} stopped or failed, listed above, kept under "
            f"{out_dir / 'episodes' / '.stopped'}); rerun the same command to retry them",
            code=1,
        )


def _check_executor(executor: str) -> None:
    """Fail in one line if the executor's package is not installed."""
    if executor != "ray":
        return
    try:
        import ray  # noqa: F401
    except ImportError:
        raise fail("--executor ray needs the ray package: pip install 'automem[ray]'") from None


def _check_local_runtime(spec: str) -> None:
    """A local model's runtime that cannot run here fails the command now, with its fix."""
    from automem.core import ModelError
    from automem.models.local import LocalModel
    from automem.models.roles import load_roles

    try:
        models = load_roles(spec, seed=0)
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        for model in models.by_role().values():
            if isinstance(model, LocalModel):
                model.check_runtime()
    except ModelError as exc:
        code = RUNTIME_BROKEN if exc.kind == "runtime_build" else 1
        raise fail(f"{exc.kind}: {exc}", code=code) from None
    finally:
        models.close()


def _add_column(table: Table, name: str) -> None:
    """Numbers never wrap; a long task name folds instead of squeezing them."""
    if name == "task":
        table.add_column(name, overflow="fold", min_width=12)
    else:
        table.add_column(name, justify="right", no_wrap=True)


def _print_summary(summary: RunSummary, skipped: Sequence[SkippedTask] = ()) -> None:
    if summary.tasks:
        table = Table(title="Progression % (mean ± standard error)")
        columns = ("task", "n", "progression", "return", "steps", "tok/step", "fallback", "invalid")
        for column in columns:
            _add_column(table, column)
        for task, group in summary.tasks.items():
            table.add_row(
                task,
                str(group.episodes),
                group.progression.percent(),
                f"{group.episode_return.mean:.2f}",
                f"{group.steps.mean:.0f}",
                f"{group.tokens_per_step:.0f}",
                str(group.fallbacks),
                str(group.invalid_actions),
            )
        out.print(table)
    if summary.not_finished:
        table = Table(title="Not finished, not counted (rerun the run to retry them)")
        for column in ("task", "episode", "status", "steps", "reason"):
            justify = "right" if column == "steps" else "left"
            table.add_column(column, overflow="fold", justify=justify)
        for task, episodes in summary.not_finished.items():
            for e in episodes:
                table.add_row(task, e.episode_id, e.status, str(e.steps), e.reason)
        out.print(table)
    if skipped:
        out.print("[yellow]Skipped tasks[/] (not run, so not in the means above):")
    for task in skipped:
        out.print(f"  {escape(task.env)}: {escape(task.reason)}", highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------- scaffold


@scaffold_app.command("list")
def scaffold_list() -> None:
    """List the built-in scaffolds and the helpers a scaffold can switch on."""
    from automem.agent.catalogue import helper_catalogue
    from automem.scaffold import builtin_names, load

    for name in builtin_names():
        out.print(f"{name}: {load(name).description}", highlight=False)
    out.print("helpers (details: automem scaffold helpers):")
    for entry in helper_catalogue():
        games = ", ".join(entry["games"]) or "any game"
        out.print(f"  {entry['name']} ({games}): {entry['summary']}", highlight=False)


@scaffold_app.command("helpers")
def scaffold_helpers(
    game: Annotated[
        str | None, typer.Option(help="Only the helpers that apply to this game.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The catalogue as JSON, with parameter schemas.")
    ] = False,
) -> None:
    """The helper catalogue: what each helper does, for which games, and its parameters."""
    import json

    from automem.agent.catalogue import catalogue_text, helper_catalogue

    entries = helper_catalogue(game)
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
    else:
        typer.echo(catalogue_text(entries))


@scaffold_app.command("show")
def scaffold_show(ref: Annotated[str, typer.Argument(help="Built-in name or YAML path.")]) -> None:
    """Print a scaffold as normalised YAML."""
    from automem.scaffold import ScaffoldError, dump, load

    try:
        typer.echo(dump(load(ref)), nl=False)
    except ScaffoldError as exc:
        raise fail(str(exc)) from None


@scaffold_app.command("validate")
def scaffold_validate(
    refs: Annotated[list[str], typer.Argument(help="Built-in names or YAML paths.")],
) -> None:
    """Check scaffolds: schema, file names, vocabulary, templates and helper parameters."""
    from automem.scaffold import ScaffoldError, load

    bad = 0
    for ref in refs:
        try:
            loaded = load(ref)  # the whole check (automem.scaffold.validate_text)
        except ScaffoldError as exc:
            err.print(f"[red]✗[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            bad += 1
        else:
            out.print(
                f"[green]✓[/] {escape(ref)}: {loaded.name} (digest {loaded.digest()})",
                highlight=False,
                soft_wrap=True,
            )
    if bad:
        raise typer.Exit(1)


@scaffold_app.command("diff")
def scaffold_diff(
    a: Annotated[str, typer.Argument(help="First scaffold (name or path).")],
    b: Annotated[str, typer.Argument(help="Second scaffold (name or path).")],
) -> None:
    """Show how two scaffolds differ, as a unified diff of their normalised YAML."""
    from automem.scaffold import ScaffoldError, diff, load

    try:
        text = diff(load(a), load(b), a, b)
    except ScaffoldError as exc:
        raise fail(str(exc)) from None
    typer.echo(text or "The scaffolds are identical.\n", nl=False)


# --------------------------------------------------------------------------- env


@env_app.command("list")
def env_list() -> None:
    """List the registered environments."""
    from automem import envs

    for spec in envs.registered():
        out.print(f"{spec.env_id}: {spec.description}", highlight=False, soft_wrap=True)


@env_app.command("show")
def env_show(
    env_id: Annotated[str, typer.Argument(help="Environment id.")],
    seed: Annotated[int, typer.Option(help="Seed of the episode to show.")] = 42,
) -> None:
    """Print the first text observation and the action list a model would get."""
    from automem import envs

    try:
        env = envs.make(env_id)
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        observation = env.reset(seed)
        typer.echo(observation.render())
        typer.echo("\nActions:")
        for action in env.actions:
            typer.echo(f"- {action.name}: {action.description}")
    finally:
        env.close()


@model_app.command("check")
def model_check(
    spec: Annotated[
        str,
        typer.Argument(
            help="Model spec, e.g. 'openai:gpt-4o' or 'local:smollm2-135m', or two by role "
            "'memory=SPEC;action=SPEC' (each is checked)."
        ),
    ],
    prompt: Annotated[str | None, typer.Option(help="The message to send.")] = None,
) -> None:
    """Send one small request and print the reply, latency, tokens and cost."""
    from automem.models.roles import RoleSpecs

    try:
        roles = RoleSpecs.parse(spec)
    except ValueError as exc:
        raise fail(str(exc)) from None
    for role, role_spec in roles.items():
        if roles.two_model:
            out.print(f"{role} model: {role_spec}", highlight=False, markup=False)
        _check_model(role_spec, prompt)


def _check_model(spec: str, prompt: str | None) -> None:
    from automem.models.check import check_model

    try:
        result = check_model(spec, **({"prompt": prompt} if prompt else {}))
    except ValueError as exc:
        raise fail(str(exc)) from None
    identity = result.identity
    out.print(f"model: {identity.backend} {identity.name}", highlight=False)
    for key, value in identity.details.items():
        out.print(f"  {key}: {value}", highlight=False, markup=False)
    if not result.ok:
        code = RUNTIME_BROKEN if result.error_kind == "runtime_build" else 1
        raise fail(f"{result.error_kind}: {result.error}", code=code)
    out.print(f"reply: {result.reply!r}", highlight=False, markup=False)
    cost = "unknown" if result.cost_usd is None else f"${result.cost_usd:.6f}"
    out.print(
        f"latency {result.latency_s:.2f} s; tokens: {result.prompt_tokens} prompt, "
        f"{result.completion_tokens} completion, {result.cached_tokens} cached; cost {cost}",
        highlight=False,
    )


@app.command("replay")
def replay_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    episode: Annotated[str | None, typer.Option(help="One episode id (default: all).")] = None,
) -> None:
    """Re-execute recorded actions and report the first step where the game answers differently.

    Exits non-zero if any episode differs: a check that seeds fully determine episodes.
    """
    from automem.runs.replay import episode_traces, replay_trace
    from automem.traces import TraceError

    try:
        paths = list(episode_traces(run_dir, episode))
    except ValueError as exc:
        raise fail(str(exc)) from None
    if not paths:
        raise fail(f"{run_dir} has no finished episodes to replay")
    differing = 0
    for path in paths:
        try:
            report = replay_trace(path)
        except TraceError as exc:
            raise fail(str(exc)) from None
        if report.difference is None:
            out.print(f"[green]✓[/] {report.episode_id}: {report.steps} steps replayed exactly")
        else:
            differing += 1
            out.print(f"[red]✗[/] {report.episode_id}: " + escape(report.difference.describe()))
    if differing:
        raise fail(f"{differing} of {len(paths)} episode(s) did not replay exactly", code=1)


@app.command("stats")
def stats_cmd(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Behavioural statistics of memory use per task, computed from the traces."""
    from collections import defaultdict

    from automem.runs.replay import episode_traces
    from automem.traces import Trace, TraceError
    from automem.traces.stats import RATES, EpisodeStats, episode_stats, mean_rates

    by_task: dict[str, list[EpisodeStats]] = defaultdict(list)
    try:
        for path in episode_traces(run_dir):
            stats = episode_stats(Trace.read(path))
            by_task[stats.env_id].append(stats)
    except (ValueError, TraceError) as exc:
        raise fail(str(exc)) from None
    if not by_task:
        raise fail(f"{run_dir} has no finished episodes")
    table = Table(title="Memory behaviour (pooled over episodes)")
    table.add_column("statistic")
    for task in by_task:
        table.add_column(task, justify="right")
    rates = {task: mean_rates(stats) for task, stats in by_task.items()}
    for name in (*RATES, "model_errors", "cost_usd"):
        table.add_row(name, *(f"{rates[task][name]:.3f}" for task in by_task))
    out.print(table)


@app.command("compare")
def compare_cmd(
    run_a: Annotated[Path, typer.Argument(help="The baseline run (A).")],
    run_b: Annotated[Path, typer.Argument(help="The run compared with it (B).")],
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 10_000,
    allow_mismatch: Annotated[
        bool,
        typer.Option(
            "--allow-mismatch",
            help="Compare even if paired episodes had different step caps, or the runs differ "
            "in both scaffold and model; the differences are listed first.",
        ),
    ] = False,
) -> None:
    """Paired comparison B - A: progression differences per task and overall, with bootstrap
    confidence intervals (episodes paired by task and seed), and behavioural deltas.

    The runs must differ in one of scaffold and model and have the same step caps."""
    from automem.runs import RunDirError
    from automem.runs.compare import compare_runs, confounded
    from automem.traces import TraceError

    try:
        result = compare_runs(
            run_a,
            run_b,
            confidence=confidence,
            resamples=resamples,
            allow_mismatch=allow_mismatch,
        )
    except (RunDirError, TraceError, ValueError) as exc:
        raise fail(str(exc)) from None
    for difference in result.differences:
        out.print(f"differs: {escape(difference.describe())}", highlight=False, soft_wrap=True)
    if not result.differences:
        out.print("The runs have the same model, scaffolds and step caps.")
    if confounded(result.differences):
        err.print(
            "[yellow]warning:[/] compared despite the mismatched settings above "
            "(--allow-mismatch): B - A mixes their effects.",
            soft_wrap=True,
        )
    level = f"{100 * confidence:.0f}%"
    table = Table(title=f"Progression, B - A (percentage points, {level} interval)")
    for column in ("task", "pairs", "A %", "B %", "B - A [interval]"):
        _add_column(table, column)
    for task in result.tasks:
        table.add_row(
            task.task,
            str(task.pairs),
            f"{100 * task.a_mean:.2f}",
            f"{100 * task.b_mean:.2f}",
            task.difference.percent(),
        )
    if result.overall is not None:
        table.add_row("overall", "", "", "", result.overall.percent(), style="bold")
    out.print(table)
    behaviour = Table(title="Memory behaviour (pooled)")
    for column in ("statistic", "A", "B", "B - A"):
        behaviour.add_column(column, justify="left" if column == "statistic" else "right")
    for name, (a, b) in result.behaviour.items():
        behaviour.add_row(name, f"{a:.3f}", f"{b:.3f}", f"{b - a:+.3f}")
    out.print(behaviour)
    for label, missing in (("A", result.only_in_a), ("B", result.only_in_b)):
        if missing:
            err.print(f"Only in {label} (not compared): {', '.join(missing)}", soft_wrap=True)


@app.command("report")
def report_cmd(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="Run directories. Several runs get one column group each; a lineage is "
            "ordered by run.json's lineage version, else as given."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
    trajectories: Annotated[
        bool,
        typer.Option(
            "--trajectories/--no-trajectories",
            help="Include the step-by-step trajectory viewer (the bulk of the file).",
        ),
    ] = True,
) -> None:
    """Write one self-contained HTML report on runs; it opens offline from file://."""
    from automem.report import ReportError, build_report

    try:
        info = build_report(runs, output, title=title, trajectories=trajectories)
    except ReportError as exc:
        raise fail(str(exc)) from None
    for warning in info.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    out.print(
        f"Wrote {escape(str(info.path))}: {info.runs} run(s), {info.episodes} episode(s), "
        f"{info.steps:,} viewer steps, {info.bytes / 2**20:.1f} MiB in {info.seconds:.1f} s."
    )


@app.command("view")
def view_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Run directories.")],
    host: Annotated[
        str, typer.Option(help="Loopback address to listen on (others are refused).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 0,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the report in a web browser.")
    ] = False,
) -> None:
    """Serve the report on loopback until Ctrl-C; reload the page to follow a running run."""
    from automem.report import NotLoopbackError, ReportError, serve

    try:
        server = serve(runs, host=host, port=port)
    except (ReportError, NotLoopbackError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    out.print(f"Serving the report at {server.url} (Ctrl-C to stop)")
    if open_browser:
        webbrowser.open(server.url)
    server.wait()


@app.command("query")
def query_cmd(
    sql: Annotated[
        str,
        typer.Argument(
            help="SQL over the views records, steps, commands, calls, "
            "messages, observations, events, headers, ends."
        ),
    ],
    runs: Annotated[list[Path], typer.Argument(help="Run directories.")],
    limit: Annotated[int, typer.Option(help="Rows to print at most.")] = 50,
) -> None:
    """Query the traces of runs together with SQL (DuckDB), e.g. empty searches per run."""
    from automem.traces.query import query

    try:
        columns, rows = query(runs, sql)
    except ValueError as exc:
        raise fail(str(exc)) from None
    table = Table(*columns)
    for row in rows[:limit]:
        table.add_row(*(str(v) for v in row))
    out.print(table)
    if len(rows) > limit:
        out.print(f"({len(rows) - limit} more rows; raise --limit)")


@app.command("summary")
def summary_cmd(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Print a run's summary table (recomputed from its finished episodes; the episodes that
    did not finish are listed apart)."""
    from automem.runs import RunDir, RunDirError, summarise

    try:
        folder = RunDir(run_dir)
        config = folder.config()
        summary = summarise(folder.scan(config).episodes())
    except RunDirError as exc:
        raise fail(str(exc)) from None
    _print_summary(summary, config.skipped)
    if not summary.episodes:
        raise fail(f"{run_dir} has no finished episodes")


# --------------------------------------------------------------------------- train


def _register_train() -> None:
    """`automem train`: options generated from TrainConfig (automem/train/command.py)."""
    from automem.train.command import train_command

    app.command("train")(train_command(fail))


_register_train()


def _register_optimize() -> None:
    """`automem optimize`: loop 1 (automem/cli_optimize.py)."""
    from automem.cli_optimize import optimize_command

    app.command("optimize")(optimize_command(fail, out, err, _check_local_runtime))


_register_optimize()


def _register_loop2() -> None:
    """`automem collect`, `select` and `specialize` (automem/train/loop2_cli.py)."""
    from automem.train.loop2_cli import collect_command, select_command, specialize_command

    app.command("collect")(collect_command(fail, _launch))
    app.command("select")(select_command(fail))
    app.command("specialize")(specialize_command(fail, _launch))


_register_loop2()

if __name__ == "__main__":
    app()
