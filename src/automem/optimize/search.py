"""Loop 1's search: rounds of reviewer attempts, each candidate screened, gated, kept or not.

:func:`optimize` evaluates the start scaffold (v0) on the gate seeds and the held-out seeds,
then runs ``versions`` rounds. A round tries up to ``fresh_attempts`` fresh reviews of the
current version; a fresh attempt whose candidate was refused (worse at the screen or the
gate, or invalid) is followed by up to ``continuations`` continuations, which revise the
same parent again while seeing the refused candidate's scores, runs and diff. The first
candidate accepted ends the round and becomes version N, which is then also evaluated on the
held-out seeds. A round with no accepted candidate is abandoned; the next one starts from
the same version (the reference counts its budget in such rounds too).

With the ``pareto`` rule, versions form a per-(task, seed) front and each fresh attempt's
parent is sampled from it; a candidate is accepted when strictly best on some instance.

Every step is recorded as it ends (:mod:`automem.optimize.lineage`), so rerunning after a
crash or ``kill -9`` continues: no finished review or episode is redone.

Where this departs from the reference protocol, and why: the gate and the reported numbers
use disjoint seeds (the reference reports its gate seeds; ``reuse_gate_seeds`` restores
that); a candidate is screened first and the screen's instances run again in the full gate
(as GEPA's minibatch, so the gate sees every instance under one evaluation); a continuation
follows only a candidate that was evaluated (a session that proposed nothing gets the next
fresh attempt instead of the reference's retry of the same session); the optimiser checks
each proposal again itself rather than trusting the reviewer; the Pareto front holds
accepted versions only, so every parent is a version a reader can find in the lineage.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from automem import scaffold as scaffolds
from automem.core import ModelIdentity
from automem.models import load_model
from automem.optimize import attempt as attempts
from automem.optimize.config import OptimizeConfig
from automem.optimize.evaluate import evaluate, stage_config
from automem.optimize.layout import OptDir
from automem.optimize.lineage import (
    AttemptRecord,
    Lineage,
    VersionRecord,
    read_lineage,
    write_lineage,
)
from automem.optimize.listener import Listener, Silent
from automem.optimize.pareto import ParetoPool
from automem.optimize.review import Reviewer
from automem.optimize.reviewers import reviewer_identity
from automem.optimize.spend import Halt, Spend
from automem.optimize.summary_md import write_summary
from automem.optimize.validity import by_instance, run_episodes
from automem.runs import plugins
from automem.scaffold import Scaffold


class OptimizeError(ValueError):
    """The optimisation cannot go on as it stands; the message says why and what to do."""


@dataclass(frozen=True)
class OptimizeResult:
    root: Path
    lineage: Lineage
    best: VersionRecord | None

    @property
    def status(self) -> str:
        return self.lineage.status

    @property
    def reason(self) -> str:
        return self.lineage.reason


def optimize(
    config: OptimizeConfig,
    out: Path,
    reviewer: Reviewer,
    *,
    listener: Listener | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> OptimizeResult:
    """Run (or resume) the optimisation ``config`` in the directory ``out`` (see the module).

    Ends when every round is done, at the stop file, or when a budget is spent: the result
    names the best version so far. Exceptions (a reviewer's model failing for good, Ctrl-C)
    leave the directory resumable.
    """
    plugins.load_plugins(config.plugins)
    start = scaffolds.load(config.scaffold)
    if start.game != config.game:
        raise OptimizeError(
            f"scaffold {start.name!r} is for {start.game!r}, the tasks are {config.game!r} ones"
        )
    opt = OptDir.create_or_resume(
        Path(out), config, start, _identity(config.model), reviewer_identity(reviewer)
    )
    try:
        return Search(config, opt, reviewer, listener or Silent(), clock).run()
    finally:
        opt.unlock()


def _identity(spec: str) -> ModelIdentity:
    model = load_model(spec, seed=0)
    try:
        return model.identity
    finally:
        model.close()


class Search:
    """The state of one invocation of :func:`optimize`."""

    def __init__(
        self,
        config: OptimizeConfig,
        opt: OptDir,
        reviewer: Reviewer,
        listener: Listener,
        clock: Callable[[], float],
    ) -> None:
        self.config, self.opt, self.reviewer, self.listener = config, opt, reviewer, listener
        exists = opt.lineage_path.exists()
        self.lineage = read_lineage(opt.lineage_path) if exists else Lineage()
        self.lineage.status, self.lineage.reason = "running", ""
        self.spend = Spend(config.budget, opt, self.lineage, clock)
        self.gate_tasks, self.heldout_tasks = config.split()
        self.pool: ParetoPool | None = None
        if config.acceptance.kind == "pareto":
            self.pool = ParetoPool()
            for version in self.lineage.versions:
                self.pool.add(version.scaffold, self.gate_scores(version))

    # ------------------------------------------------------------------ the loop

    def run(self) -> OptimizeResult:
        try:
            self.baseline()
            for slot in range(1, self.config.versions + 1):
                self.round(slot)
            self.lineage.status = "finished"
            self.lineage.reason = f"{self.config.versions} round(s) done"
        except Halt as halt:
            self.lineage.status = "budget" if halt.kind == "budget" else "stopped"
            self.lineage.reason = halt.reason
        except BaseException:
            self.save()  # keeps this invocation's wall time; the state is already on disk
            raise
        self.save()
        best = self.best()
        self.listener.note(
            f"{self.lineage.status}: {self.lineage.reason}; best version: "
            + (f"v{best.version} {best.scaffold}" if best else "none")
        )
        return OptimizeResult(self.opt.root, self.lineage, best)

    def best(self) -> VersionRecord | None:
        return self.lineage.best(by_mean=self.pool is not None)

    def save(self) -> None:
        self.lineage.elapsed_s = self.spend.elapsed()
        write_lineage(self.opt.lineage_path, self.lineage)
        write_summary(self.opt, self.lineage, self.config, self.best())

    def baseline(self) -> None:
        """v0: the start scaffold on the gate seeds and the held-out seeds."""
        if self.lineage.versions:
            return
        opt, start = self.opt, self.opt.start_file
        shared = dict(config=self.config, spend=self.spend, listener=self.listener, label="v0")
        gate_config = stage_config(self.config, start, self.gate_tasks, self.config.plugins)
        gate = evaluate(opt, "gate", opt.baseline / "runs" / "gate", gate_config, **shared)
        if not gate.record.valid:
            raise OptimizeError(
                "the start scaffold's gate evaluation is invalid, so no candidate can be "
                f"compared with it: {'; '.join(gate.record.reasons)}. Fix the cause (the agent "
                "model?) and rerun the same command: the finished episodes are kept"
            )
        heldout = None
        if self.heldout_tasks:
            held_config = stage_config(self.config, start, self.heldout_tasks, self.config.plugins)
            run_dir = opt.baseline / "runs" / "heldout"
            heldout = evaluate(opt, "heldout", run_dir, held_config, **shared).record
        name = scaffolds.load(start).name
        version = VersionRecord(
            version=0, scaffold=name, file=opt.relative(start), gate=gate.record, heldout=heldout
        )
        self.add_version(version)
        self.listener.note(f"v0 {name}: gate {_mean(version.gate.mean)}")

    def round(self, slot: int) -> None:
        """Attempts for version slot ``slot`` until one is accepted (see the module)."""
        for k in range(1, self.config.fresh_attempts + 1):
            record = self.attempt(f"v{slot}-a{k}", slot, None)
            if record.verdict == "accepted":
                return
            failed = record
            for c in range(1, self.config.continuations + 1):
                if failed.verdict not in ("rejected", "invalid") or failed.candidate is None:
                    break
                record = self.attempt(f"v{slot}-a{k}-c{c}", slot, failed)
                if record.verdict == "accepted":
                    return
                failed = record
        if slot not in self.lineage.abandoned:
            self.lineage.abandoned.append(slot)
            self.save()
            self.listener.note(f"v{slot}: abandoned, no candidate was accepted")

    def attempt(self, attempt_id: str, slot: int, failed: AttemptRecord | None) -> AttemptRecord:
        record = self.lineage.attempt(attempt_id)
        if record is not None and record.status == "done":
            return record
        if record is None:
            parent = failed.parent if failed is not None else self.choose_parent(attempt_id)
            record = AttemptRecord(
                id=attempt_id,
                version=slot,
                kind="continuation" if failed is not None else "fresh",
                parent=parent,
                parent_version=self.lineage.version(parent).version,
                continuation_of=failed.id if failed is not None else None,
            )
            self.spend.check_review(self.first_stage())  # before anything of it is written
            self.lineage.put(record)
            self.save()
        return attempts.run_attempt(self, record)

    def first_stage(self) -> int:
        """Episodes of a candidate's first evaluation: the screen, or the gate without one."""
        gate = sum(len(t.seeds) for t in self.gate_tasks)
        size = self.config.screen_size
        return size if 0 < size < gate else gate

    def choose_parent(self, attempt_id: str) -> str:
        """The current version; with the Pareto rule a front member sampled by its wins."""
        if self.pool is None:
            return self.lineage.versions[-1].scaffold
        rng = random.Random(f"{self.config.seed}:{attempt_id}")  # the same on a resume
        return self.pool.sample_parent(rng)

    # ------------------------------------------------------------------ versions

    def add_version(self, version: VersionRecord) -> None:
        self.lineage.versions.append(version)
        if self.pool is not None:
            self.pool.add(version.scaffold, self.gate_scores(version))
        self.save()

    def gate_scores(self, version: VersionRecord) -> dict[tuple[str, int], float]:
        return by_instance(run_episodes(self.opt.root / version.gate.run))

    def trial_pool(self) -> ParetoPool:
        """A copy of the front to admit a candidate to, kept only if it is accepted."""
        if self.pool is None:
            raise ValueError("only the pareto rule keeps a pool")
        return copy.deepcopy(self.pool)

    def version_scaffold(self, version: VersionRecord) -> Scaffold:
        """A version's scaffold, its helper source files imported first."""
        plugins.load_plugins([str(self.opt.root / p) for p in version.plugins])
        return scaffolds.load(self.opt.root / version.file)


def _mean(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"
