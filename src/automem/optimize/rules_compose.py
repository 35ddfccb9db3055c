"""The rules: what each one measures, when it fires, and the structural change it composes.

A :class:`Rule` reads the pooled :class:`~automem.optimize.rules_diagnosis.Figures` of the
parent's runs and gives its :class:`Evidence`: one figure against a threshold, with the count
behind it (a rate over too few events does not fire). Its strength is the figure divided by
the threshold, so rules of different figures rank on one scale. A rule that fires offers one
or more *tunings*: :class:`Change` objects (helpers switched on or retuned, files added,
routine settings), from the mildest to the strongest, all taken from the helper catalogue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from automem.agent.helpers import validate_helpers
from automem.memory.names import name_problem
from automem.optimize.rules_diagnosis import Figures, top
from automem.scaffold import HelperConfig, MemoryFile, Scaffold, dump

NLE_GAMES = ("minihack", "nethack")
POSITION_GAMES = ("crafter", *NLE_GAMES)


@dataclass(frozen=True)
class Evidence:
    """One figure of the runs against a rule's threshold."""

    figure: str
    value: float
    threshold: float
    count: int  # the events behind the figure
    min_count: int
    detail: str

    @property
    def fires(self) -> bool:
        return self.count >= self.min_count and self.value >= self.threshold

    @property
    def strength(self) -> float:
        return self.value / self.threshold if self.threshold else 0.0

    def line(self) -> str:
        verdict = "fires" if self.fires else "does not fire"
        need = f", needs {self.min_count}+" if self.count < self.min_count else ""
        return (
            f"{self.figure} {self.value:.3g} vs threshold {self.threshold:.3g} "
            f"({self.detail}{need}): {verdict}"
        )


@dataclass(frozen=True)
class Change:
    """One structural change of a scaffold: helpers set, files added, routine updated."""

    label: str
    helpers: tuple[HelperConfig, ...] = ()
    files: tuple[MemoryFile, ...] = ()
    routine: dict[str, Any] = field(default_factory=dict)

    def apply(self, parent: Scaffold, *, name: str, description: str) -> str:
        """The child's normalised YAML: ``parent`` with this change, renamed, parent set.

        A helper replaces the parent's helper of the same name (one of each per scaffold),
        else it is appended.
        """
        data = parent.model_dump(mode="json")
        helpers = list(data["helpers"])
        for helper in self.helpers:
            new = helper.model_dump(mode="json")
            at = next((i for i, h in enumerate(helpers) if h["name"] == helper.name), None)
            if at is None:
                helpers.append(new)
            else:
                helpers[at] = new
        data.update(name=name, parent=parent.name, description=description, helpers=helpers)
        data["files"] = [*data["files"], *(f.model_dump(mode="json") for f in self.files)]
        data["routine"] = {**data["routine"], **self.routine}
        return dump(Scaffold.model_validate(data))

    def params(self) -> dict[str, dict[str, Any]]:
        """Each helper's validated parameters (defaults filled in), by helper name."""
        validated = validate_helpers(self.helpers)
        return {
            config.name: params.model_dump(mode="json")
            for config, (_, params) in zip(self.helpers, validated, strict=True)
        }


Tunings = Callable[[Figures, Scaffold], list[Change]]


@dataclass(frozen=True)
class Rule:
    id: str
    summary: str  # what it looks at and what it proposes
    measure: Callable[[Figures], Evidence]
    tunings: Tunings
    games: tuple[str, ...] = ()  # () = any game
    helper: str | None = None  # the catalogue helper it switches on, if any

    def applies_to(self, game: str) -> bool:
        return not self.games or game in self.games


# ---------------------------------------------------------------------- small builders


def helper(name: str, **params: Any) -> HelperConfig:
    return HelperConfig(name=name, params=params)


def _label(config: HelperConfig) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in sorted(config.params.items()))
    return f"{config.name}({shown})"


def helper_changes(*configs: HelperConfig) -> list[Change]:
    return [Change(label=_label(c), helpers=(c,)) for c in configs]


def _rate(
    figure: str, part: int, whole: int, threshold: float, min_count: int, what: str
) -> Evidence:
    value = part / whole if whole else 0.0
    return Evidence(figure, value, threshold, whole, min_count, f"{part} of {whole} {what}")


def free_name(parent: Scaffold, wanted: str) -> str:
    """``wanted``, or ``wanted_2``... : a file name the parent does not use yet."""
    taken = {f.name for f in parent.files}
    name, n = wanted, 1
    while name in taken:
        n += 1
        name = f"{wanted}_{n}"
    return name


def log_file(figures: Figures, parent: Scaffold) -> str:
    """The action log if the scaffold has one, else the file the model writes most."""
    names = [f.name for f in parent.files]
    if "actions_log" in names or not names:
        return "actions_log"
    written = {k: v for k, v in figures.writes_by_file.items() if k in names}
    return top(written) or names[0]


# ---------------------------------------------------------------------- the rules


def _circling(f: Figures) -> Evidence:
    return _rate("revisit rate", f.sums["revisits"], f.steps, 0.25, 10, "steps back on a place")


def _circling_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    diagonals = parent.game in NLE_GAMES
    return helper_changes(
        helper("position_tracker", visits=4, diagonals=diagonals),
        helper("position_tracker", visits=3, window=50, diagonals=diagonals),
        helper("position_tracker", visits=2, window=20, diagonals=diagonals),
    )


def _no_effect(f: Figures) -> Evidence:
    return _rate(
        "unchanged-observation rate",
        f.sums["unchanged_observations"],
        f.steps,
        0.3,
        10,
        "steps that left the observation unchanged",
    )


def _no_effect_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    return helper_changes(
        helper("stuck_detector"),
        helper("stuck_detector", repeat=3, oscillation=2, stagnation=50),
        helper("stuck_detector", repeat=2, oscillation=2, stagnation=25),
    )


def _empty_searches(f: Figures) -> Evidence:
    return _rate(
        "empty-search rate", f.sums["empty_searches"], f.sums["searches"], 0.5, 5, "searches"
    )


def _empty_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    target = log_file(f, parent)
    return helper_changes(
        helper("inject_tail", file=target, lines=10),
        helper("inject_tail", file=target, lines=20),
        helper("inject_tail", file=target, lines=20, phases=["log", "plan"]),
    )


GROWN = 100  # a final file of more lines than this has grown too long


def _growing(f: Figures) -> Evidence:
    name, lines = f.longest_file or ("(none)", 0)
    return Evidence(
        "longest final file (lines)", float(lines), GROWN, lines, 1, f"{name}: {lines} lines"
    )


def _growing_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    if f.longest_file is None:
        return []
    name, lines = f.longest_file
    return [
        Change(
            label=f"prune_file({name}: past {cap} lines keep {cap // 2})",
            helpers=(helper("prune_file", files=[name], max_lines=cap, keep_lines=cap // 2),),
        )
        for cap in (200, 100, 50)
        if cap < lines
    ]


STATUS_TEMPLATES = (
    "step: {step}\nlast action: {action} ({outcome})\nprogression: {progression}\n{short_term}",
    "step: {step}\nlast action: {action} ({outcome}, reward {reward})\n"
    "progression: {progression}\nposition: {position} on {level}\n{short_term}",
)


def _redundant(f: Figures) -> Evidence:
    return _rate(
        "redundant-write rate", f.sums["redundant_writes"], f.sums["writes"], 0.3, 5, "writes"
    )


def _redundant_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    existing = next((h for h in parent.helpers if h.name == "status_file"), None)
    name = existing.params.get("file", "status") if existing else free_name(parent, "status")
    added = (
        ()
        if existing
        else (
            MemoryFile(
                name=name,
                purpose="rewritten by code at every step: the current status; read it, "
                "do not copy it",
            ),
        )
    )
    return [
        Change(
            label=f"status_file({name}, template {i + 1})",
            helpers=(helper("status_file", file=name, template=template),),
            files=added,
        )
        for i, template in enumerate(STATUS_TEMPLATES)
    ]


def _silent_log(f: Figures) -> Evidence:
    return _rate(
        "silent-LOG rate", f.sums["silent_logs"], f.sums["log_phases"], 0.3, 5, "LOG phases"
    )


def _silent_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    target = log_file(f, parent)
    return helper_changes(
        helper("auto_log", file=target, scope="any_file"),
        helper("auto_log", file=target, scope="this_file"),
    )


MAX_NEW_FILES = 2


def _missing(f: Figures) -> Evidence:
    total = sum(f.missing_reads.values())
    names = ", ".join(f"{k} x{v}" for k, v in f.missing_reads.items()) or "none"
    return Evidence("reads of missing files", float(total), 3, total, 3, names)


def _missing_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    taken = {m.name for m in parent.files}
    wanted = [
        name
        for name in sorted(f.missing_reads, key=lambda k: (-f.missing_reads[k], k))
        if name not in taken and name_problem(name, parent.limits.max_name_chars) is None
    ][:MAX_NEW_FILES]
    if not wanted or len(taken) + len(wanted) > parent.limits.max_files:
        return []
    files = tuple(
        MemoryFile(
            name=name,
            purpose=f"a file you looked for {f.missing_reads[name]} times before it existed",
        )
        for name in wanted
    )
    return [Change(label="files(+" + ", +".join(wanted) + ")", files=files)]


def _failed_crafts(f: Figures) -> Evidence:
    return _rate(
        "failed-craft rate", f.sums["failed_crafts"], f.sums["crafts"], 0.5, 3, "Make/Place steps"
    )


def _craft_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    return helper_changes(helper("craft_gate"))


def _vitals(f: Figures) -> Evidence:
    low = f.sums["low_vital_steps"]
    rate = _rate("low-vital step rate", low, f.steps, 0.1, 10, "steps with a vital at 3 or less")
    deaths = Evidence(
        "death share",
        f.deaths / f.episodes,
        0.2,
        f.episodes,
        1,
        f"{f.deaths} of {f.episodes} episodes ended in death",
    )
    if deaths.fires and (not rate.fires or deaths.strength > rate.strength):
        return deaths
    return rate


def _vitals_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    return helper_changes(
        helper("vitals"),
        helper("vitals", health=5, food=4, drink=4, energy=4),
        helper("vitals", health=6, food=5, drink=5, energy=5),
    )


def _unlogged(f: Figures) -> Evidence:
    return _rate(
        "unlogged-change rate",
        f.sums["unlogged_changes"],
        f.sums["inventory_changes"],
        0.5,
        3,
        "inventory changes no LOG wrote about",
    )


def _unlogged_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    return helper_changes(helper("inventory_diff"), helper("inventory_diff", say_unchanged=True))


def _stagnation(f: Figures) -> Evidence:
    value = f.zero_streak_share if f.progression < 0.5 else 0.0
    return Evidence(
        "zero-reward streak share",
        value,
        0.6,
        f.steps,
        20,
        f"mean longest zero-reward streak / steps {f.zero_streak_share:.2f}, "
        f"mean progression {f.progression:.2f} (fires below 0.5)",
    )


def _checklist_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    return helper_changes(
        helper("achievement_checklist", show="all"),
        helper("achievement_checklist", show="missing", file=free_name(parent, "achievements")),
        helper("achievement_checklist", show="missing", phases=["log", "plan"]),
    )


def _stairs_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    return helper_changes(
        helper("stairs_finder"),
        helper("stairs_finder", kinds=["down", "up"]),
        helper("stairs_finder", phases=["log", "plan"]),
    )


def _fallbacks(f: Figures) -> Evidence:
    return _rate(
        "fallback rate", f.sums["fallbacks"], f.steps, 0.1, 10, "steps that used the fallback"
    )


def _fallback_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    cap = parent.routine.plan_turn_cap
    caps = sorted({min(100, cap + 5), min(100, cap + 10)} - {cap})
    return [Change(label=f"routine(plan_turn_cap={c})", routine={"plan_turn_cap": c}) for c in caps]


def _invalid(f: Figures) -> Evidence:
    return _rate(
        "invalid-action rate", f.sums["invalid_actions"], f.steps, 0.15, 10, "invalid actions"
    )


def _invalid_tunings(f: Figures, parent: Scaffold) -> list[Change]:
    changes = []
    if not parent.routine.constrained_output:
        changes.append(
            Change(label="routine(constrained_output=true)", routine={"constrained_output": True})
        )
    window = max(4, parent.routine.history_window * 2)
    if window <= 256:
        changes.append(
            Change(label=f"routine(history_window={window})", routine={"history_window": window})
        )
    return changes


RULES: tuple[Rule, ...] = (
    Rule("failed_crafts", "Make/Place that changed nothing -> craft_gate", _failed_crafts,
         _craft_tunings, ("crafter",), "craft_gate"),
    Rule("low_vitals", "vitals low or deaths -> vitals urgency", _vitals, _vitals_tunings,
         ("crafter",), "vitals"),
    Rule("circling", "steps back on visited places -> position_tracker directive", _circling,
         _circling_tunings, POSITION_GAMES, "position_tracker"),
    Rule("no_effect", "unchanged observations -> stuck_detector", _no_effect, _no_effect_tunings,
         (), "stuck_detector"),
    Rule("missing_files", "reads of files that do not exist -> those files added", _missing,
         _missing_tunings),
    Rule("empty_searches", "searches that find nothing -> inject_tail of the log into PLAN",
         _empty_searches, _empty_tunings, (), "inject_tail"),
    Rule("silent_log", "LOG phases that write nothing -> auto_log", _silent_log, _silent_tunings,
         (), "auto_log"),
    Rule("redundant_writes", "writes that change nothing -> status_file by code", _redundant,
         _redundant_tunings, (), "status_file"),
    Rule("growing_file", "a file past 100 lines -> prune_file", _growing, _growing_tunings, (),
         "prune_file"),
    Rule("unlogged_changes", "inventory changes not logged -> inventory_diff", _unlogged,
         _unlogged_tunings, ("crafter",), "inventory_diff"),
    Rule("stagnation", "long zero-reward streaks -> achievement_checklist", _stagnation,
         _checklist_tunings, ("crafter",), "achievement_checklist"),
    Rule("stairs", "long zero-reward streaks -> stairs_finder", _stagnation, _stairs_tunings,
         NLE_GAMES, "stairs_finder"),
    Rule("fallbacks", "PLAN ending in the fallback -> a higher PLAN turn cap", _fallbacks,
         _fallback_tunings),
    Rule("invalid_actions", "invalid actions -> constrained output, then a history window",
         _invalid, _invalid_tunings),
)  # fmt: skip
