"""A run directory: the config that made it, its episodes, and a summary.

Layout::

    RUN/
      run.json                 config, scaffold identity, model identity (``models``: by
                               role; a resume with other weights is refused), package versions
                               of the first attempt, and ``attempts``: one entry per invocation
                               (start time, command, interpreter, versions, model identity)
      scaffolds/<name>.yaml    the exact scaffolds used (checked against run.json's digests)
      summary.json             finished episodes aggregated; the others listed apart
      episodes/<id>/trace.jsonl
      episodes/<id>/trace.index.json  byte offsets of the trace's steps: a cache that
                               :mod:`automem.runs.reader` writes and rebuilds when stale
      episodes/<id>/memory/    final memory files
      episodes/<id>/result.json  the episode's summary; a valid one with status ``finished``
                               marks the episode finished (a result)
      episodes/.stopped/<id>/  an episode that did not finish: stopped (model error, budget),
                               an error in the loop, or its worker process died. Same files,
                               result.json says why. Not a result; the next run retries it
                               and the retry replaces it.
      episodes/.partial/<id>/  an episode in progress (discarded and rerun on resume)

An episode is written under ``.partial`` and moved into place by one rename when it ends,
so a killed run never leaves a half-finished episode that looks finished. An episode
folder without a valid result (deleted or damaged result.json) is incomplete: it is not
counted, and the next run reruns the episode and replaces the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ValidationError

from automem.core import ModelIdentity
from automem.models.roles import RoleName, combined_identity, identity_mismatch
from automem.runs.config import RunConfig
from automem.runs.summary import EpisodeSummary, summarise
from automem.scaffold import Scaffold, ScaffoldError, dump, load

RUN_SCHEMA_VERSION = 1
TRACKED_PACKAGES = (
    "automem",
    "crafter",
    "nle",
    "minihack",
    "numpy",
    "pydantic",
    "jinja2",
    "torch",
    "transformers",
    "peft",
    "llama-cpp-python",
    "openai",
    "anthropic",
    "httpx",
)


class RunDirError(ValueError):
    """A run directory that cannot be used as asked; the message says how to proceed."""


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = (
        data.model_dump_json(indent=2)
        if isinstance(data, BaseModel)
        else json.dumps(data, indent=2, sort_keys=False)
    )
    try:
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # the error that matters is the one below
            tmp.unlink(missing_ok=True)
        raise RunDirError(f"cannot write {path}: {exc.strerror or exc}") from None


def episode_id(env_id: str, seed: int) -> str:
    return f"{env_id.replace('/', '__')}__seed{seed}"


def read_result(path: Path, config: RunConfig | None = None) -> EpisodeSummary:
    """An episode's result.json, checked: readable, valid, in its own folder, of this run."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunDirError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        summary = EpisodeSummary.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise RunDirError(
            f"{path}: not a valid episode result ({where}: {first['msg']}); "
            "delete its folder to rerun the episode"
        ) from None
    folder = path.parent.name
    if summary.episode_id != folder:
        raise RunDirError(
            f"{path}: its episode id {summary.episode_id!r} does not match its folder "
            f"{folder!r}; delete the folder to rerun the episode"
        )
    if config is not None:
        seeds = {t.env: t.seeds for t in config.tasks}.get(summary.env_id)
        if seeds is None or summary.seed not in seeds:
            raise RunDirError(
                f"{path}: environment {summary.env_id!r} seed {summary.seed} is not an episode "
                "of this run's config; move the folder out of the run directory"
            )
        if episode_id(summary.env_id, summary.seed) != folder:
            raise RunDirError(
                f"{path}: environment {summary.env_id!r} seed {summary.seed} belongs in folder "
                f"{episode_id(summary.env_id, summary.seed)!r}, not {folder!r}"
            )
    return summary


@dataclass
class EpisodeScan:
    """What a run directory holds: results, episodes that did not finish, and problems."""

    finished: dict[str, EpisodeSummary] = field(default_factory=dict)
    stopped: dict[str, EpisodeSummary] = field(default_factory=dict)  # stopped or failed
    problems: list[str] = field(default_factory=list)  # folders without a valid result

    def record(self, summary: EpisodeSummary) -> None:
        """Note an episode's latest attempt (it replaces the earlier one)."""
        self.finished.pop(summary.episode_id, None)
        self.stopped.pop(summary.episode_id, None)
        (self.finished if summary.finished else self.stopped)[summary.episode_id] = summary

    def episodes(self) -> list[EpisodeSummary]:
        return [*self.finished.values(), *self.stopped.values()]


class RunDir:
    """Access to one run directory. Use :meth:`create_or_resume` to start or continue a run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.episodes_dir = root / "episodes"
        self.partial_dir = self.episodes_dir / ".partial"
        self.stopped_dir = self.episodes_dir / ".stopped"
        self._lock: IO[str] | None = None

    # ------------------------------------------------------------------ set-up

    @classmethod
    def create_or_resume(
        cls,
        root: Path,
        config: RunConfig,
        scaffolds: Mapping[str, Scaffold],
        models: Mapping[RoleName, ModelIdentity],
    ) -> RunDir:
        """Start a run in ``root`` or continue the one there; ``scaffolds`` by name, the
        identity of each role's model in ``models``.

        Every check comes before the first write: a refused resume changes nothing.
        """
        run = cls(root)
        if root.exists() and not root.is_dir():
            raise RunDirError(f"{root} is a file, not a folder; choose another --out")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"cannot create the run directory {root}: {exc.strerror}") from None
        run.lock()
        try:
            run._start(config, scaffolds, dict(models))
        except BaseException:
            run.unlock()
            raise
        return run

    def _start(
        self,
        config: RunConfig,
        scaffolds: Mapping[str, Scaffold],
        models: dict[RoleName, ModelIdentity],
    ) -> None:
        model = combined_identity(models)
        attempt = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": sys.argv,
            "python": sys.executable,
            "versions": package_versions(),
            "model": model.model_dump(mode="json"),
        }
        run_json = self.root / "run.json"
        if run_json.exists():
            record = self.run_record()
            self._check_same(record, config, scaffolds)
            self._check_models(record, models)
            self._check_folders()
            record["attempts"] = [*record.get("attempts", _first_attempt(record)), attempt]
            write_json_atomic(run_json, record)
        elif any(p.name != ".lock" for p in self.root.iterdir()):
            raise RunDirError(f"{self.root} is not empty and has no run.json; choose a new --out")
        else:
            folder = self.root / "scaffolds"
            folder.mkdir()
            for name, scaffold in scaffolds.items():
                (folder / f"{name}.yaml").write_text(dump(scaffold), encoding="utf-8")
            write_json_atomic(
                run_json,
                {
                    "schema_version": RUN_SCHEMA_VERSION,
                    "created_at": attempt["started_at"],
                    "command": sys.argv,
                    "config": config.model_dump(mode="json"),
                    "scaffolds": {
                        name: {"digest": s.digest(), "file": f"scaffolds/{name}.yaml"}
                        for name, s in scaffolds.items()
                    },
                    "model": model.model_dump(mode="json"),
                    "models": {r: m.model_dump(mode="json") for r, m in models.items()},
                    "versions": attempt["versions"],
                    "attempts": [attempt],
                },
            )
        self.episodes_dir.mkdir(exist_ok=True)
        # Whatever was in progress when an earlier run died is discarded and rerun.
        shutil.rmtree(self.partial_dir, ignore_errors=True)
        self.partial_dir.mkdir()

    def lock(self) -> None:
        """Hold an exclusive lock so two processes never run into the same directory."""
        try:
            handle = open(self.root / ".lock", "w")  # noqa: SIM115 - held for the run's life
        except OSError as exc:
            raise RunDirError(f"cannot write {self.root / '.lock'}: {exc.strerror}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunDirError(f"{self.root} is in use by another automem process") from None
        self._lock = handle

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def run_record(self) -> dict[str, Any]:
        """run.json, checked for the fields a resume and the readers rely on."""
        path = self.root / "run.json"
        record = self.read_json("run.json")
        if not isinstance(record, dict):
            raise RunDirError(f"{path}: a JSON object expected, found {_kind(record)}")
        for key, kind in (("config", dict), ("scaffolds", dict), ("attempts", list)):
            if key in record and not isinstance(record[key], kind):
                expected = "an object" if kind is dict else "a list"
                raise RunDirError(f"{path}: {key!r} must be {expected}, found {_kind(record[key])}")
        if "config" not in record:
            raise RunDirError(f"{path} has no 'config': is {self.root} a run directory?")
        for name, info in record.get("scaffolds", {}).items():
            if not isinstance(info, dict) or not isinstance(info.get("digest"), str):
                raise RunDirError(f"{path}: scaffolds.{name} must be an object with a 'digest'")
        return record

    def config(self) -> RunConfig:
        """The run's config as run.json records it."""
        try:
            return RunConfig.model_validate(self.run_record()["config"])
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise RunDirError(f"{self.root / 'run.json'}: config.{where}: {first['msg']}") from None

    def _check_same(
        self, record: dict[str, Any], config: RunConfig, scaffolds: Mapping[str, Scaffold]
    ) -> None:
        old = record["config"]
        new = config.model_dump(mode="json")
        if old != new:
            changed = sorted(k for k in new.keys() | old.keys() if old.get(k) != new.get(k))
            details = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
            raise RunDirError(
                f"{self.root} holds a run with a different config ({details}). "
                "Rerun with the same settings to resume it, or choose a new --out."
            )
        digests = {name: info["digest"] for name, info in record.get("scaffolds", {}).items()}
        for name, scaffold in scaffolds.items():
            if digests.get(name) != scaffold.digest():
                raise RunDirError(
                    f"{self.root} was run with a different version of scaffold {name!r} "
                    f"(digest {digests.get(name)} vs {scaffold.digest()}); choose a new --out."
                )
        for name, digest in digests.items():
            self._check_scaffold_copy(name, digest)

    def _check_models(self, record: dict[str, Any], models: dict[RoleName, ModelIdentity]) -> None:
        """The episodes of a run come from one model per role: a spec that now loads other
        weights (a changed model file or adapter, another package version) may not add to it."""
        recorded = record.get("models")
        if recorded is None and isinstance(record.get("model"), dict):
            recorded = {"agent": record["model"]}  # a run.json before models by role
        if not isinstance(recorded, dict):
            return  # a run.json that never recorded an identity: nothing to compare
        for role, identity in recorded.items():
            if not isinstance(identity, dict):
                raise RunDirError(
                    f"{self.root / 'run.json'}: models.{role} must be an object (a model "
                    f"identity), found {_kind(identity)}"
                )
        if (why := identity_mismatch(recorded, models)) is not None:
            raise RunDirError(
                f"{self.root} holds episodes made by a different model identity than the "
                f"spec loads now ({why}). Its episodes would mix two models: restore the "
                "model the run was made with to resume it, or choose a new --out."
            )

    def _check_scaffold_copy(self, name: str, digest: str) -> None:
        """The run's own copy of a scaffold is what its episodes use: it must be unchanged."""
        path = self.scaffold_path(name)
        try:
            copy = load(path)
        except ScaffoldError as exc:
            raise RunDirError(f"{path}: the run's copy of a scaffold is unusable: {exc}") from None
        if copy.digest() != digest:
            raise RunDirError(
                f"{path} was changed after the run started (digest {copy.digest()}, run.json "
                f"records {digest}); restore it, or start a new run with --out elsewhere"
            )

    def _check_folders(self) -> None:
        for folder in (self.episodes_dir, self.partial_dir, self.stopped_dir):
            if folder.exists() and not folder.is_dir():
                raise RunDirError(
                    f"{folder} is a file where the run keeps a folder; move it away and rerun"
                )

    def scaffold_path(self, name: str) -> Path:
        return self.root / "scaffolds" / f"{name}.yaml"

    # ------------------------------------------------------------------ episodes

    def episode_dir(self, episode: str) -> Path:
        return self.episodes_dir / episode

    def partial_episode_dir(self, episode: str) -> Path:
        return self.partial_dir / episode

    def scan(self, config: RunConfig | None = None, *, strict: bool = True) -> EpisodeScan:
        """Read every episode result. ``strict`` raises on an invalid result.

        Otherwise it is listed in ``problems`` and its episode counts as not run (a run then
        reruns it and replaces the folder). A folder with no result.json is never a result.
        """
        if not self.root.is_dir():
            raise RunDirError(f"{self.root}: run directory not found")
        self._check_folders()
        scan = EpisodeScan()
        for folder in _folders(self.episodes_dir):
            if not (folder / "result.json").exists():
                if not strict:
                    scan.problems.append(f"{folder} has no result.json (an incomplete episode)")
                continue
            summary = self._read(folder / "result.json", config, strict, scan)
            if summary is not None:
                (scan.finished if summary.finished else scan.stopped)[folder.name] = summary
        for folder in _folders(self.stopped_dir):
            summary = self._read(folder / "result.json", config, strict, scan)
            if summary is not None and summary.finished:
                problem = f"{folder / 'result.json'}: a finished result under .stopped is ignored"
                if strict:
                    raise RunDirError(problem)
                scan.problems.append(problem)
            elif summary is not None:
                scan.stopped[folder.name] = summary  # the latest attempt
        return scan

    @staticmethod
    def _read(
        path: Path, config: RunConfig | None, strict: bool, scan: EpisodeScan
    ) -> EpisodeSummary | None:
        try:
            return read_result(path, config)
        except RunDirError as exc:
            if strict:
                raise
            scan.problems.append(str(exc))
            return None

    def finished(self) -> dict[str, EpisodeSummary]:
        """The run's results: valid finished episodes, checked against run.json's config."""
        return self.scan(self.config()).finished

    def finish_episode(self, summary: EpisodeSummary) -> None:
        """Move a finished episode from .partial into place; it replaces any earlier attempt."""
        self._place(summary, self.episode_dir(summary.episode_id))

    def stop_episode(self, summary: EpisodeSummary) -> None:
        """Keep an episode that did not finish under .stopped (replacing an earlier attempt)."""
        self._place(summary, self.stopped_dir / summary.episode_id)

    def _place(self, summary: EpisodeSummary, target: Path) -> None:
        episode = summary.episode_id
        src = self.partial_episode_dir(episode)
        src.mkdir(parents=True, exist_ok=True)  # a worker that died at once left nothing
        write_json_atomic(src / "result.json", summary)
        for earlier in (self.episode_dir(episode), self.stopped_dir / episode):
            if earlier.exists():  # not a result (or it would not have been rerun)
                trash = self.partial_dir / f".replaced-{episode}"
                os.replace(earlier, trash)
                shutil.rmtree(trash)
        target.parent.mkdir(exist_ok=True)
        os.replace(src, target)

    def write_summary(self, episodes: Sequence[EpisodeSummary] | None = None) -> None:
        """Write summary.json from ``episodes`` (default: read every episode of the run)."""
        if episodes is None:
            episodes = self.scan(self.config()).episodes()
        write_json_atomic(self.root / "summary.json", summarise(episodes))

    def read_json(self, name: str) -> Any:
        path = self.root / name
        if not self.root.is_dir():
            raise RunDirError(f"{self.root}: run directory not found")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunDirError(f"{path} does not exist: is {self.root} a run directory?") from None
        except OSError as exc:
            raise RunDirError(f"{path}: cannot read it ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise RunDirError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from None
        except UnicodeDecodeError:
            raise RunDirError(f"{path} is not valid JSON (not UTF-8 text)") from None


def _folders(parent: Path) -> list[Path]:
    """Episode folders under ``parent`` (the dot-named work areas aside)."""
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))


def _first_attempt(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The first attempt of a run.json written before attempts were recorded."""
    keys = {"created_at": "started_at", "command": "command", "versions": "versions"}
    first = {new: record[old] for old, new in keys.items() if old in record}
    return [{**first, "model": record["model"]} if "model" in record else first]


def _kind(value: Any) -> str:
    names = {list: "a list", str: "a string", dict: "an object", bool: "a boolean"}
    return names.get(type(value), f"a {type(value).__name__}")
