"""How the command line shows a running run: live bars on a terminal, log lines elsewhere.

Off a terminal (``nohup``, CI, a log file) a bar prints nothing until the run ends, so there
the display writes one line per episode that ends and, while episodes run, one line
every ``interval`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from automem.runs.summary import EpisodeSummary


class RunProgress:
    """Receives a run's progress (``step``) and episode ends (``end``) and shows them."""

    def __init__(
        self,
        console: Console,
        *,
        live: bool | None = None,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.interval = interval
        self.clock = clock
        self.started = self.last_line = clock()
        self.steps: dict[str, tuple[int, int]] = {}  # episode -> (steps done, step cap)
        self.ended: dict[str, EpisodeSummary] = {}
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not self.live,
        )
        self._bars: dict[str, int] = {}

    def __enter__(self) -> RunProgress:
        self.bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.bar.stop()

    def step(self, episode: str, step: int, cap: int) -> None:
        """An episode is at ``step`` of at most ``cap`` (0 and 0: it is waiting to start)."""
        if episode in self.ended:
            return  # a late update from a worker must not undo the episode's end
        self.steps[episode] = (step, cap)
        if self.live:
            if episode not in self._bars:
                self._bars[episode] = self.bar.add_task(escape(episode), total=cap or None)
            self.bar.update(self._bars[episode], completed=step, total=cap or None)
        elif self.clock() - self.last_line >= self.interval:
            self._status_line()

    def end(self, summary: EpisodeSummary) -> None:
        """An episode ended: its real length completes a finished one's bar, nothing else does."""
        episode = summary.episode_id
        self.ended[episode] = summary
        _, cap = self.steps.get(episode, (0, 0))
        self.steps[episode] = (summary.steps, cap)
        if self.live:
            if episode not in self._bars:
                self._bars[episode] = self.bar.add_task(escape(episode), total=cap or None)
            total = summary.steps if summary.finished else (cap or None)
            label = episode if summary.finished else f"{episode} ({summary.status})"
            self.bar.update(
                self._bars[episode], completed=summary.steps, total=total, description=escape(label)
            )
        else:
            self.console.print(_end_line(summary), highlight=False, markup=False, soft_wrap=True)

    def _status_line(self) -> None:
        self.last_line = self.clock()
        running = [e for e, (step, cap) in self.steps.items() if e not in self.ended and cap]
        played = sum(step for step, _ in self.steps.values())
        elapsed = int(self.last_line - self.started)
        self.console.print(
            f"progress: {len(self.ended)} of {len(self.steps)} episode(s) ended, "
            f"{len(running)} running, {played} steps played, "
            f"{elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d} elapsed",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def _end_line(summary: EpisodeSummary) -> str:
    if summary.finished:
        return (
            f"{summary.episode_id}: finished ({summary.reason}) after {summary.steps} steps, "
            f"progression {100 * summary.progression:.2f}%"
        )
    return (
        f"{summary.episode_id}: did not finish ({summary.status}: {summary.reason}) "
        f"after {summary.steps} steps"
    )
