"""The ``automem optimize`` command: loop 1 over a suite, shown as it runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from automem.progress import RunProgress
from automem.runs.summary import EpisodeSummary

if TYPE_CHECKING:
    from automem.optimize.config import OptimizeConfig
    from automem.optimize.search import OptimizeResult

Fail = Callable[..., Exception]


class Display:
    """The optimisation's lines, and each evaluation's episodes as a run shows them."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.current: RunProgress | None = None

    def note(self, text: str) -> None:
        self.console.print(escape(text), highlight=False, soft_wrap=True)

    def stage(self, label: str, episodes: int) -> None:
        self.stage_end()
        if episodes:
            self.note(f"{label}: {episodes} episode(s) to play")
        self.current = RunProgress(self.console).__enter__()

    def step(self, episode: str, step: int, cap: int) -> None:
        if self.current is not None:
            self.current.step(episode, step, cap)

    def episode_end(self, summary: EpisodeSummary) -> None:
        if self.current is not None:
            self.current.end(summary)

    def stage_end(self) -> None:
        if self.current is not None:
            self.current.__exit__(None, None, None)
            self.current = None

    def __enter__(self) -> Display:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stage_end()


def optimize_command(
    fail: Fail, out: Console, err: Console, check_model: Callable[[str], None]
) -> Callable[..., None]:
    """The command function; ``fail`` makes a user error exit, ``check_model`` refuses a
    local model whose runtime cannot run here."""

    def optimize_cmd(
        suite: Annotated[
            str, typer.Option(help="Built-in suite (crafter, minihack, nethack) or a YAML file.")
        ],
        out_dir: Annotated[
            Path, typer.Option("--out", help="Optimisation directory (created or resumed).")
        ],
        model: Annotated[str, typer.Option(help="The agent's model spec.")],
        reviewer: Annotated[
            str,
            typer.Option(
                help="'rules' (no LLM: composes a change from the helper catalogue) or the "
                "reviewer model's spec, e.g. 'anthropic:claude-sonnet-4-5'."
            ),
        ] = "rules",
        compact_review: Annotated[
            bool,
            typer.Option(
                help="A model reviewer gets the short session meant for small local models: "
                "fewer tools, and the parent's YAML only on request."
            ),
        ] = False,
        scaffold: Annotated[
            str | None, typer.Option(help="Start scaffold (default: the game's v0).")
        ] = None,
        task: Annotated[
            list[str] | None,
            typer.Option(help="Only the suite's tasks whose env id matches (repeatable)."),
        ] = None,
        episodes: Annotated[
            int | None, typer.Option(help="Only the first N seeds of each task.")
        ] = None,
        max_steps: Annotated[int | None, typer.Option(help="Cap on every episode.")] = None,
        versions: Annotated[int, typer.Option(help="Rounds, each trying for a version.")] = 5,
        attempts: Annotated[int, typer.Option(help="Fresh reviewer attempts per round.")] = 3,
        continuations: Annotated[
            int, typer.Option(help="Continuations after a refused candidate.")
        ] = 1,
        rule: Annotated[
            str,
            typer.Option(
                help="Acceptance: 'mean' (strictly higher mean, the reference), 'paired' (paired "
                "bootstrap lower bound above --min-gain), 'pareto' (per-instance front)."
            ),
        ] = "mean",
        min_gain: Annotated[float, typer.Option(help="paired: the gain to exceed.")] = 0.0,
        confidence: Annotated[float, typer.Option(help="paired: interval level.")] = 0.95,
        screen: Annotated[
            int, typer.Option(help="Instances of the cheap screen before the gate; 0 = none.")
        ] = 3,
        gate_seeds: Annotated[
            str | None,
            typer.Option(help="Seeds that gate, e.g. '42-46'; the rest are held out."),
        ] = None,
        gate_fraction: Annotated[
            float, typer.Option(help="Share of seeds that gate (without --gate-seeds).")
        ] = 0.5,
        reuse_gate_seeds: Annotated[
            bool,
            typer.Option(
                "--reuse-gate-seeds",
                help="Report on the gate seeds, as the reference did (no held-out seeds).",
            ),
        ] = False,
        allow_code: Annotated[
            bool,
            typer.Option(
                "--allow-code",
                help="Let the reviewer add helpers as Python source; every evaluation "
                "imports them. Without it a candidate is data only.",
            ),
        ] = False,
        max_review_cost: Annotated[
            float | None, typer.Option(help="Budget: reviewer USD in all.")
        ] = None,
        max_review_tokens: Annotated[
            int | None, typer.Option(help="Budget: reviewer tokens in all.")
        ] = None,
        max_episodes: Annotated[
            int | None, typer.Option(help="Budget: evaluation episodes in all.")
        ] = None,
        max_hours: Annotated[float | None, typer.Option(help="Budget: wall time in all.")] = None,
        review_turns: Annotated[int, typer.Option(help="Model calls per review session.")] = 40,
        review_tokens: Annotated[
            int, typer.Option(help="Tokens per review session (prompt + completion).")
        ] = 400_000,
        review_cost: Annotated[
            float | None, typer.Option(help="USD per review session (default: no cap).")
        ] = None,
        workers: Annotated[int, typer.Option(help="Episodes run in parallel.")] = 1,
        executor: Annotated[str, typer.Option(help="'local' processes or 'thread's.")] = "local",
        constrained: Annotated[
            bool | None,
            typer.Option("--constrained/--free", help="Constrain the agent's decoding (or not)."),
        ] = None,
        plugin: Annotated[
            list[str] | None, typer.Option(help="Plugin module or .py file (repeatable).")
        ] = None,
        seed: Annotated[int, typer.Option(help="Seeds screening and parent sampling.")] = 0,
    ) -> None:
        """Optimise a scaffold (loop 1): a reviewer proposes revisions, a gate keeps the better.

        The start scaffold is evaluated on the gate seeds and on disjoint held-out seeds.
        Each round, reviewers propose revisions of the current version; a candidate is
        screened on a few instances, then gated on all gate seeds by --rule; the first one
        accepted becomes the next version and is also evaluated on the held-out seeds.

        Rerun the same command after Ctrl-C, a crash or kill -9: it continues without redoing
        any finished review or episode. Create OUT/STOP to end it at the next safe point.
        Workers, budgets and --versions may change on a resume. Then: automem report OUT.
        """
        options = dict(locals())  # every option, by name
        from pydantic import ValidationError

        from automem.optimize.config import OptimizeConfig

        try:
            config = OptimizeConfig.model_validate(_config_data(options, fail))
        except ValidationError as exc:
            raise fail(f"invalid options: {_problems(exc)}") from None
        except ValueError as exc:
            raise fail(str(exc)) from None
        check_model(config.model)
        _run(config, out_dir, fail, out, err)

    return optimize_cmd


def _problems(exc: Any) -> str:
    """A validation error in one line: each field and what is wrong with it."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'options'}: "
        + e["msg"].removeprefix("Value error, ")
        for e in exc.errors()
    )


def _config_data(options: dict[str, Any], fail: Fail) -> dict[str, Any]:
    """The config's fields from the command's options (suite expanded into tasks)."""
    from automem.optimize.config import MeanRule, PairedRule, ParetoRule
    from automem.runs import parse_seeds
    from automem.runs.plugins import load_plugins
    from automem.runs.suites import limit_suite, load_suite
    from automem.scaffold import default_for_game

    load_plugins(options["plugin"] or ())
    chosen = load_suite(options["suite"])
    limited = limit_suite(
        chosen, patterns=options["task"] or (), episodes=options["episodes"], max_steps=None
    )
    rules = {
        "mean": MeanRule(),
        "paired": PairedRule(min_gain=options["min_gain"], confidence=options["confidence"]),
        "pareto": ParetoRule(),
    }
    if options["rule"] not in rules:
        raise fail(f"--rule must be mean, paired or pareto, got {options['rule']!r}")
    hours = options["max_hours"]
    return {
        "suite": chosen.name,
        "tasks": [t.model_dump() for t in limited.tasks],
        "scaffold": options["scaffold"] or default_for_game(limited.tasks[0].env),
        "model": options["model"],
        "reviewer": options["reviewer"],
        "compact_review": options["compact_review"],
        "versions": options["versions"],
        "fresh_attempts": options["attempts"],
        "continuations": options["continuations"],
        "acceptance": rules[options["rule"]],
        "screen_size": options["screen"],
        "gate_fraction": options["gate_fraction"],
        "gate_seeds": parse_seeds(options["gate_seeds"]) if options["gate_seeds"] else None,
        "reuse_gate_seeds": options["reuse_gate_seeds"],
        "max_steps": options["max_steps"],
        "constrained_output": options["constrained"],
        "plugins": tuple(options["plugin"] or ()),
        "workers": options["workers"],
        "executor": options["executor"],
        "allow_code": options["allow_code"],
        "seed": options["seed"],
        "budget": {
            "max_review_cost_usd": options["max_review_cost"],
            "max_review_tokens": options["max_review_tokens"],
            "max_episodes": options["max_episodes"],
            "max_wall_s": hours * 3600 if hours is not None else None,
        },
        "review": {
            "max_turns": options["review_turns"],
            "max_tokens": options["review_tokens"],
            "max_cost_usd": options["review_cost"],
        },
    }


def _run(config: OptimizeConfig, out_dir: Path, fail: Fail, out: Console, err: Console) -> None:
    from automem.core import ModelError
    from automem.optimize.layout import OptimizeDirError
    from automem.optimize.reviewers import resolve_reviewer
    from automem.optimize.search import OptimizeError, optimize
    from automem.runs import RunDirError, WorkerError
    from automem.scaffold import ScaffoldError

    try:
        reviewer = resolve_reviewer(config.reviewer, compact=config.compact_review)
    except ImportError as exc:
        raise fail(f"reviewer {config.reviewer!r} is not available: {exc}") from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        with Display(err) as display:
            result = optimize(config, out_dir, reviewer, listener=display)
    except KeyboardInterrupt:
        raise fail(
            f"interrupted; everything finished is kept in {out_dir}: "
            "rerun the same command to resume",
            code=130,
        ) from None
    except ModelError as exc:
        raise fail(
            f"the reviewer's model failed ({exc.kind}: {exc}); rerun the same command to resume",
            code=1,
        ) from None
    except (
        OptimizeError,
        OptimizeDirError,
        RunDirError,
        WorkerError,
        ScaffoldError,
        ValueError,
    ) as exc:
        raise fail(str(exc)) from None
    _print_versions(result, out)
    out.print(f"Optimisation directory: {out_dir} (summary.md; automem report {out_dir})")
    if result.status == "budget":
        raise fail(
            f"stopped: {result.reason}; rerun the same command with a larger budget to continue",
            code=1,
        )


def _print_versions(result: OptimizeResult, out: Console) -> None:
    from automem.optimize.summary_md import stage_text

    table = Table(title="Versions: progression % (mean ± standard error)")
    for column in ("version", "scaffold", "attempt", "gate", "held-out"):
        table.add_column(column)
    for v in result.lineage.versions:
        table.add_row(
            f"v{v.version}" + (" (code)" if v.plugins else ""),
            v.scaffold,
            v.attempt or "start",
            stage_text(v.gate),
            stage_text(v.heldout),
        )
    out.print(table)
    best = result.best
    out.print(
        f"{result.status}: {escape(result.reason)}. Best: "
        + (f"v{best.version} {escape(best.scaffold)}" if best else "none"),
        highlight=False,
        soft_wrap=True,
    )
