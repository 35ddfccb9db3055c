"""Report build and viewer speed on a 2,000-step Crafter episode.

Builds a run directory holding one 2,000-step episode of real Crafter played by the scripted
model, builds the HTML report for it, and (when Chromium is installed) opens the report
headless to time load-to-interactive and seeking to the last step.

    python benchmarks/report_build.py [--steps 2000] [--seed 5] [--keep DIR]

The scripted agent dies long before 2,000 steps, so the episode is played in a Crafter whose
player is kept alive (health, food, drink and energy are refilled before every step); the
trace, memory journal and report are otherwise exactly those of a real run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from automem.agent import Episode
from automem.core import StepResult
from automem.envs.crafter.env import CrafterEnv
from automem.models import ScriptedModel
from automem.report import build_report
from automem.report.chromium import CHROMIUM, HEADLESS_ARGS, MEMORY_PANEL_TEXT_JS
from automem.runs.summary import EpisodeSummary, summarise
from automem.scaffold import load
from automem.traces import Trace, TraceWriter


class ImmortalCrafter(CrafterEnv):
    """Real Crafter whose player's vital statistics are refilled before every step."""

    def step(self, action: str) -> StepResult:
        for vital in ("health", "food", "drink", "energy"):
            self._player.inventory[vital] = 9
        return super().step(action)


def make_long_run(root: Path, steps: int, seed: int) -> Path:
    """A run directory (run.json, summary.json, one episode) with one ``steps``-step episode."""
    episode_id = f"crafter__seed{seed}"
    folder = root / "episodes" / episode_id
    folder.mkdir(parents=True)
    scaffold = load("crafter-v0")
    model = ScriptedModel(seed)
    meta = {
        "schema_version": 1,
        "config": {
            "env": "crafter",
            "model": "scripted",
            "scaffold": scaffold.name,
            "seeds": [seed],
            "max_steps": steps,
        },
        "scaffold": {"name": scaffold.name, "digest": scaffold.digest()},
        "model": model.identity.model_dump(mode="json"),
        "note": "benchmarks/report_build.py: Crafter with the player kept alive",
    }
    (root / "run.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    with TraceWriter(folder / "trace.jsonl") as trace:
        Episode(
            env=ImmortalCrafter(max_steps=steps),
            model=model,
            scaffold=scaffold,
            seed=seed,
            episode_id=episode_id,
            memory_dir=folder / "memory",
            trace=trace,
            max_steps=steps,
        ).run()
    summary = EpisodeSummary.from_trace(Trace.read(folder / "trace.jsonl"), game="crafter")
    (folder / "result.json").write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    (root / "summary.json").write_text(summarise([summary]).model_dump_json(indent=2))
    return root


SEEK_JS = """(step) => new Promise((resolve) => {
  const t0 = performance.now();
  window.automemViewer.seek(step);
  void document.body.offsetHeight;  // include style and layout
  const rendered = performance.now() - t0;
  requestAnimationFrame(() => resolve({rendered, painted: performance.now() - t0}));
})"""


def browser_timings(report: Path, trace_path: Path, repeats: int = 3) -> dict[str, object] | None:
    """Load, seek and check times in headless Chromium (medians of ``repeats`` fresh loads).

    None when Chromium or playwright is not installed.
    """
    if not CHROMIUM.exists():
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    from automem.memory import rebuild

    trace = Trace.read(trace_path)
    last = len(trace.steps) - 1
    runs: list[dict[str, float]] = []
    with sync_playwright() as p:
        # Playwright starts Chromium with a new empty profile (its own --user-data-dir).
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=HEADLESS_ARGS)
        try:
            for _ in range(repeats):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                start = time.perf_counter()
                page.goto(report.as_uri())
                page.wait_for_function("document.body.dataset.ready === '1'", timeout=60_000)
                wall_ms = 1000 * (time.perf_counter() - start)
                timings = page.evaluate("window.automemViewer.timings")
                cold = page.evaluate(SEEK_JS, last)  # first seek: builds the checkpoints
                middle = page.evaluate(SEEK_JS, last // 2)
                warm = page.evaluate(SEEK_JS, last)
                randoms = [page.evaluate(SEEK_JS, (k * 7919) % (last + 1)) for k in range(1, 21)]
                runs.append(
                    {
                        "load_to_interactive_ms": timings["readyMs"],
                        "json_parse_ms": timings["parseMs"],
                        "load_wall_ms_incl_driver": wall_ms,
                        "seek_to_last_step_cold_ms": cold["rendered"],
                        "seek_to_last_step_cold_to_paint_ms": cold["painted"],
                        "seek_to_middle_ms": middle["rendered"],
                        "seek_to_last_step_warm_ms": warm["rendered"],
                        "seek_random_mean_ms": statistics.mean(r["rendered"] for r in randoms),
                        "seek_random_max_ms": max(r["rendered"] for r in randoms),
                    }
                )
                page.evaluate(SEEK_JS, last)
                expected = rebuild(
                    trace.journal(),
                    trace.header.initial_files,
                    step=last,
                    limits=trace.header.limits,
                )
                shown = {name: page.evaluate(MEMORY_PANEL_TEXT_JS, name) for name in expected}
                action = page.get_attribute("#step-info", "data-action")
                page.close()
        finally:
            browser.close()
    result: dict[str, object] = {
        key: round(statistics.median(r[key] for r in runs), 1) for key in runs[0]
    }
    result["repeats"] = repeats
    result["last_step_memory_matches_rebuild"] = shown == expected
    result["last_step_action_matches_trace"] = action == trace.steps[-1].action
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="keep the run and report in this directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="automem-report-bench-"))
    try:
        start = time.perf_counter()
        run_dir = make_long_run(work / "run", args.steps, args.seed)
        play_s = time.perf_counter() - start
        out = work / "report.html"
        info = build_report([run_dir], out)
        trace_path = next((run_dir / "episodes").glob("*/trace.jsonl"))
        result: dict[str, object] = {
            "steps": info.steps,
            "trace_bytes": trace_path.stat().st_size,
            "report_bytes": info.bytes,
            "report_data_bytes": info.data_bytes,
            "report_mib": round(info.bytes / 2**20, 2),
            "build_s": round(info.seconds, 3),
            "episode_play_s": round(play_s, 2),
        }
        browser = browser_timings(out, trace_path)
        result["browser"] = browser if browser is not None else "chromium not installed"
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copytree(run_dir, args.keep / "run", dirs_exist_ok=True)
            shutil.copy(out, args.keep / "report.html")
            result["kept"] = str(args.keep)
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
