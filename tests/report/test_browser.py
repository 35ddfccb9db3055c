"""The report in a real headless Chromium: the viewer steps through a real scripted run.

Needs Debian's chromium (/usr/bin/chromium) and the playwright package (both installed by
scripts/test.sh); without them these tests fail, never skip. Playwright only drives the
installed browser (never `playwright install`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api

from automem.envs.nethack import boxoban
from automem.envs.nethack.tasks import MINIHACK_TASKS
from automem.memory import rebuild
from automem.report import build_report
from automem.report.chromium import CHROMIUM, HEADLESS_ARGS, MEMORY_PANEL_TEXT_JS
from automem.runs import RunConfig, TaskConfig, run
from automem.traces import CallRecord, CommandRecord, Trace
from tests.envs.test_minihack_env import SOLVED_BY_EAST, write_levels
from tests.report.conftest import copy_run

if not CHROMIUM.exists():
    raise RuntimeError("Chromium is not installed: apt-get install chromium (scripts/test.sh does)")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        # Playwright gives the browser a new empty profile (its own --user-data-dir).
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=HEADLESS_ARGS)
        yield browser
        browser.close()


class Page:
    """A report page that records page errors and every request it makes."""

    def __init__(self, browser: object, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})  # type: ignore[attr-defined]
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        self.page.wait_for_function("document.body.dataset.ready === '1'")

    def step(self) -> int:
        return int(self.page.get_attribute("#viewer-root", "data-step") or -1)

    def wait_step(self, k: int) -> None:
        self.page.wait_for_function(
            f"document.getElementById('viewer-root').dataset.step === '{k}'", timeout=5000
        )

    def memory(self) -> dict[str, str]:
        names = self.page.eval_on_selector_all(
            "#memory-panel [data-file]", "els => els.map(e => e.dataset.file)"
        )
        return {name: self.page.evaluate(MEMORY_PANEL_TEXT_JS, name) for name in names}


def expected_memory(trace: Trace, k: int) -> dict[str, str]:
    h = trace.header
    return rebuild(trace.journal(), h.initial_files, step=k, limits=h.limits)


def check_step(view: Page, trace: Trace, k: int) -> None:
    view.wait_step(k)
    assert view.memory() == expected_memory(trace, k), f"memory at step {k}"
    step = trace.steps[k]
    assert view.page.get_attribute("#step-info", "data-action") == step.action
    assert view.page.text_content("#step-action") == step.action
    assert view.page.get_attribute("#step-info", "data-valid") == ("1" if step.valid else "0")
    calls = [c for c in trace.of_type(CallRecord) if c.step == k]
    commands = [c for c in trace.of_type(CommandRecord) if c.step == k]
    assert view.page.locator("#turns .turn").count() == len(calls)
    assert view.page.locator("#turns .cmd").count() == len(commands)
    observation = next(o.text for o in trace.observations if o.step == k)
    assert view.page.text_content("#observation") == observation


@pytest.fixture(scope="module")
def report(crafter_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Trace]:
    out = tmp_path_factory.mktemp("browser") / "report.html"
    build_report([crafter_run], out, checkpoint_every=16)  # small: seeks cross checkpoints
    return out, Trace.read(next(crafter_run.glob("episodes/*/trace.jsonl")))


def test_stepping_with_slider_and_keys_shows_memory_as_rebuilt(
    browser: object, report: tuple[Path, Trace]
) -> None:
    out, trace = report
    view = Page(browser, out.as_uri())
    view.page.select_option("#episode-select", f"0/{trace.header.episode_id}")
    # A step after two checkpoints whose memory changed and holds a non-empty file.
    changed = {r.step for r in trace.journal() if r.ok and r.op in ("APPEND", "WRITE")}
    k = max(s for s in changed if 35 <= s <= 55)
    assert any(expected_memory(trace, k).values())
    view.page.locator("#step-slider").fill(str(k - 3))
    view.wait_step(k - 3)
    view.page.locator("#observation").click()  # focus leaves the slider
    for _ in range(3):
        view.page.keyboard.press("ArrowRight")
    check_step(view, trace, k)
    changed_files = {r.file for r in trace.journal() if r.ok and r.step == k and r.file}
    marked = view.page.eval_on_selector_all(
        "#memory-panel [data-changed='1']", "els => els.map(e => e.dataset.file)"
    )
    assert set(marked) == changed_files
    assert view.page.locator("#memory-panel .add").count() >= 1
    # Backwards past a checkpoint, to the last step, to a typed step, and home again.
    view.page.keyboard.press("Shift+ArrowLeft")
    check_step(view, trace, k - 10)
    view.page.click("#last-step")
    check_step(view, trace, len(trace.steps) - 1)
    view.page.fill("#step-input", "7")
    view.page.press("#step-input", "Enter")
    check_step(view, trace, 7)
    view.page.locator("#observation").click()
    view.page.keyboard.press("Home")
    check_step(view, trace, 0)
    view.page.click("#next-step")
    check_step(view, trace, 1)
    assert view.errors == []
    assert view.requests == [out.as_uri()]  # the report loads nothing else


def test_a_link_opens_an_episode_at_a_step(browser: object, report: tuple[Path, Trace]) -> None:
    out, trace = report
    view = Page(browser, f"{out.as_uri()}#view=0/{trace.header.episode_id}&step=33")
    check_step(view, trace, 33)
    # A command's reply is shown with its command tags highlighted.
    assert view.page.locator("#turns .reply .tag").count() >= 1
    # Prompts are filled when opened.
    view.page.locator("#turns details.prompt").first.locator("summary").click()
    # Filled on the toggle event: wait for it rather than race it.
    view.page.locator("#turns details.prompt .msg").first.wait_for(timeout=5000)
    assert view.page.locator("#turns details.prompt .msg").count() >= 1
    assert view.errors == []


def test_several_runs_each_open_from_the_episode_table(
    browser: object, crafter_run: Path, tmp_path: Path
) -> None:
    a = copy_run(crafter_run, tmp_path / "first", lineage={"version": 0, "parent": None})
    b = copy_run(crafter_run, tmp_path / "second", lineage={"version": 1, "parent": "first"})
    out = tmp_path / "two.html"
    build_report([b, a], out)
    view = Page(browser, out.as_uri())
    trace = Trace.read(next(a.glob("episodes/*/trace.jsonl")))
    key = f"1/{trace.header.episode_id}"  # run 1 is "second" (version 1)
    view.page.click(f'button[data-view="{key}"]')
    view.page.wait_for_function(
        f"document.getElementById('viewer-root').dataset.episode === '{key}'"
    )
    assert view.page.input_value("#run-select") == "1"
    assert view.page.input_value("#episode-select") == key
    view.page.select_option("#run-select", "0")
    view.page.wait_for_function(
        "document.getElementById('viewer-root').dataset.episode.startsWith('0/')"
    )
    view.page.locator("#observation").click()
    view.page.keyboard.press("End")
    check_step(view, trace, len(trace.steps) - 1)
    assert view.page.locator("#lineage-chart svg circle.point").count() == 2
    assert view.errors == []


@pytest.fixture(scope="module")
def three_minihack_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One real scripted run of the 8 MiniHack tasks, as three runs with long names."""
    root = tmp_path_factory.mktemp("minihack-runs")
    levels = write_levels(root / "levels", SOLVED_BY_EAST)
    tasks = tuple(TaskConfig(env=f"minihack/{t}", seeds=(42,), max_steps=3) for t in MINIHACK_TASKS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(boxoban.LEVELS_ENV, str(levels))
        run(RunConfig(model="scripted", tasks=tasks), root / "source")
    names = ("baseline-run-with-a-long-name", "second-run-with-a-long-name", "third-run-long")
    return [copy_run(root / "source", root / name) for name in names]


def test_tables_stay_inside_their_boxes_with_three_runs(
    browser: object, three_minihack_runs: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "three.html"
    build_report(three_minihack_runs, out)
    view = Page(browser, out.as_uri())
    for table in ("#summary-table", "#episodes-table"):
        box = view.page.evaluate(
            """(sel) => { const t = document.querySelector(sel), w = t.closest('.table-wrap');
                return {table: t.getBoundingClientRect().width, box: w.clientWidth,
                        overflow: getComputedStyle(w).overflowX}; }""",
            table,
        )
        assert box["table"] <= box["box"] + 1, (table, box)  # fits: nothing hidden to scroll to
        assert box["overflow"] == "auto"  # and on a narrower screen it scrolls inside its box
    labels = view.page.eval_on_selector_all(
        "#progression-chart svg text title",
        "els => els.map(t => [t.textContent, t.parentElement.textContent])",
    )
    drawn = {full: text[len(full) :] for full, text in labels}  # legends are titled too
    assert len({drawn[task] for task in MINIHACK_TASKS}) == 8, drawn
    assert view.page.evaluate("document.documentElement.scrollWidth") <= 1300
    assert view.errors == []
