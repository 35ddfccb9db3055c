"""What an optimisation tells whoever watches it (the command line's progress display)."""

from __future__ import annotations

from typing import Protocol

from automem.runs.summary import EpisodeSummary


class Listener(Protocol):
    def note(self, text: str) -> None:
        """One line about what happens: a stage starts, a decision, a stop."""

    def stage(self, label: str, episodes: int) -> None:
        """An evaluation starts: ``episodes`` still to play."""

    def step(self, episode: str, step: int, cap: int) -> None: ...

    def episode_end(self, summary: EpisodeSummary) -> None: ...

    def stage_end(self) -> None: ...


class Silent:
    """A listener that ignores everything (the library default)."""

    def note(self, text: str) -> None:
        pass

    def stage(self, label: str, episodes: int) -> None:
        pass

    def step(self, episode: str, step: int, cap: int) -> None:
        pass

    def episode_end(self, summary: EpisodeSummary) -> None:
        pass

    def stage_end(self) -> None:
        pass
