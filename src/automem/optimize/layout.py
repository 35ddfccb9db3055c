"""An optimisation directory: where everything lives, its record, lock and stop file.

Layout::

    OPT/
      optimize.json        schema version, the config, the start scaffold's digest, the agent
                           and reviewer identities, package versions, and one entry per
                           invocation (start time, command, versions, config as given)
      lineage.json         versions and attempts, stage by stage (automem.optimize.lineage)
      summary.md           the lineage for a reader
      STOP                 create it to end the optimisation at the next safe point
      baseline/scaffold.yaml, baseline/runs/gate, baseline/runs/heldout
      attempts/<id>/       one per attempt, e.g. v1-a1 (fresh) or v1-a1-c1 (its continuation):
        transcript.jsonl   the reviewer's session (written by the reviewer)
        review.json        the reviewer's outcome (marks the session done)
        candidate.yaml     the candidate scaffold; diff.patch: against its parent
        runs/screen, runs/gate, runs/heldout   real run directories (automem.runs)
        decision.json      verdict, the rule's statistic, cost
        .interrupted-N/    what a session killed before its end had written (kept, not used)
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from automem.core import ModelIdentity
from automem.optimize.config import OptimizeConfig
from automem.runs.directory import RunDirError, package_versions, write_json_atomic
from automem.scaffold import Scaffold, dump

OPTIMIZE_SCHEMA_VERSION = 1
RECORD = "optimize.json"


class OptimizeDirError(ValueError):
    """An optimisation directory that cannot be used as asked; the message says the fix."""


def write_text_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def is_optimization(root: Path) -> bool:
    return (root / RECORD).is_file()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class OptDir:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.record_path = root / RECORD
        self.lineage_path = root / "lineage.json"
        self.summary_path = root / "summary.md"
        self.stop_path = root / "STOP"
        self.baseline = root / "baseline"
        self.start_file = self.baseline / "scaffold.yaml"
        self._lock: IO[str] | None = None

    def attempt_dir(self, attempt_id: str) -> Path:
        return self.root / "attempts" / attempt_id

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    # ------------------------------------------------------------------ set-up

    @classmethod
    def create_or_resume(
        cls,
        root: Path,
        config: OptimizeConfig,
        start: Scaffold,
        agent: ModelIdentity,
        reviewer: dict[str, Any],
    ) -> OptDir:
        """Start an optimisation in ``root`` or continue the one there (same config but for
        workers, executor, budgets and versions; the same start scaffold)."""
        opt = cls(root.resolve())
        if opt.root.exists() and not opt.root.is_dir():
            raise OptimizeDirError(f"{root} is a file, not a folder; choose another --out")
        opt.root.mkdir(parents=True, exist_ok=True)
        opt.lock()
        try:
            opt._start(config, start, agent, reviewer)
        except BaseException:
            opt.unlock()
            raise
        return opt

    def _start(
        self, config: OptimizeConfig, start: Scaffold, agent: ModelIdentity, reviewer: dict
    ) -> None:
        invocation = {
            "started_at": now(),
            "command": sys.argv,
            "python": sys.executable,
            "versions": package_versions(),
            "config": config.model_dump(mode="json"),
        }
        if self.record_path.exists():
            record = self.record()
            self._check_same(record, config, start)
            record["invocations"] = [*record.get("invocations", []), invocation]
            self._write(record)
            return
        if any(p.name != ".lock" for p in self.root.iterdir()):
            raise OptimizeDirError(
                f"{self.root} is not empty and has no {RECORD}; choose a new --out"
            )
        self.baseline.mkdir()
        write_text_atomic(self.start_file, dump(start))
        self._write(
            {
                "schema_version": OPTIMIZE_SCHEMA_VERSION,
                "created_at": invocation["started_at"],
                "config": config.model_dump(mode="json"),
                "start": {"name": start.name, "digest": start.digest(), "ref": config.scaffold},
                "agent_model": agent.model_dump(mode="json"),
                "reviewer": reviewer,
                "versions": invocation["versions"],
                "invocations": [invocation],
            }
        )

    def _write(self, record: dict[str, Any]) -> None:
        try:
            write_json_atomic(self.record_path, record)
        except RunDirError as exc:
            raise OptimizeDirError(str(exc)) from None

    def record(self) -> dict[str, Any]:
        try:
            record = json.loads(self.record_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise OptimizeDirError(f"{self.record_path}: not readable JSON ({exc})") from None
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise OptimizeDirError(f"{self.record_path}: no 'config' object; not an optimisation")
        if record.get("schema_version") != OPTIMIZE_SCHEMA_VERSION:
            raise OptimizeDirError(
                f"{self.record_path}: schema_version {record.get('schema_version')!r}, this "
                f"AutoMem reads {OPTIMIZE_SCHEMA_VERSION}"
            )
        return record

    def config(self) -> OptimizeConfig:
        from pydantic import ValidationError

        try:
            return OptimizeConfig.model_validate(self.record()["config"])
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise OptimizeDirError(f"{self.record_path}: config.{where}: {first['msg']}") from None

    def _check_same(self, record: dict[str, Any], config: OptimizeConfig, start: Scaffold) -> None:
        try:
            old = OptimizeConfig.model_validate(record["config"]).comparable()
        except ValueError as exc:
            raise OptimizeDirError(f"{self.record_path}: invalid config: {exc}") from None
        new = config.comparable()
        if old != new:
            changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            details = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
            raise OptimizeDirError(
                f"{self.root} holds an optimisation with a different config ({details}). "
                "Rerun with the same settings to resume it (workers, budgets and --versions may "
                "change), or choose a new --out."
            )
        digest = (record.get("start") or {}).get("digest")
        if digest != start.digest():
            raise OptimizeDirError(
                f"{self.root} started from another version of scaffold {start.name!r} (digest "
                f"{digest} vs {start.digest()}); restore it or choose a new --out"
            )

    def lock(self) -> None:
        handle = open(self.root / ".lock", "w")  # noqa: SIM115 - held while it runs
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise OptimizeDirError(f"{self.root} is in use by another automem process") from None
        self._lock = handle

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # ------------------------------------------------------------------ safe points

    def stop_requested(self) -> bool:
        return self.stop_path.exists()

    def consume_stop(self) -> None:
        """Remove the stop file, so rerunning the command continues."""
        self.stop_path.unlink(missing_ok=True)

    def set_aside(self, attempt_dir: Path) -> Path | None:
        """Move what an unfinished review session wrote into ``.interrupted-N`` (kept for
        the record); the session then runs again in an empty folder. None if it wrote nothing."""
        if not attempt_dir.is_dir():
            return None
        leftovers = [p for p in attempt_dir.iterdir() if not p.name.startswith(".interrupted-")]
        if not leftovers:
            return None
        number = 1
        while (attempt_dir / f".interrupted-{number}").exists():
            number += 1
        target = attempt_dir / f".interrupted-{number}"
        target.mkdir()
        for path in leftovers:
            os.replace(path, target / path.name)
        return target
