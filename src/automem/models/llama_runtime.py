"""Is the installed llama.cpp runtime one that runs on this machine? Asked once per build.

A crash in native code kills the process without a Python message (issue #9: a build
compiled for the local CPU runs AMX kernels that fault at the first multi-token prompt, by
SIGSEGV at ldtilecfg on one machine, by SIGILL at tileloadd on another). So
before the first model load of a process, :func:`ensure_runtime_works` runs the probe
(:mod:`llama_probe`) in a child process: load the model, decode a short prompt. If the child
dies by a signal, :class:`RuntimeBuildBroken` names the runtime (version, library, what it
was built with) and the command that rebuilds it portably. A working build is remembered in
a small file in the cache dir, keyed by the runtime's identity (version, its library files'
sizes and mtimes), the model file and the CPU, so a rebuilt runtime is probed again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from automem.core import ModelError

RUNTIME_PACKAGE = "llama-cpp-python"
RUNTIME_VERSION = "0.3.36"  # the pin of pyproject's `local` extra (a test keeps them equal)
# The install's build: every x86-64 CPU generation's kernels, the best loaded at run time
# (automem.models.llama_backends). The portable one, without variants, is the crash remedy.
CPU_VARIANTS_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON"
PORTABLE_CMAKE_ARGS = "-DGGML_NATIVE=OFF"


def _rebuild(cmake_args: str) -> str:
    return (
        f'CMAKE_ARGS="{cmake_args}" pip install --force-reinstall --no-deps --no-cache-dir '
        f"{RUNTIME_PACKAGE}=={RUNTIME_VERSION}"
    )


REBUILD_RUNTIME = _rebuild(PORTABLE_CMAKE_ARGS)
# What a portable (GGML_NATIVE=OFF) x86-64 build reports it was built with.
PORTABLE_FEATURES = frozenset(
    {"SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2", "LLAMAFILE", "OPENMP", "REPACK"}
)
PROBE = Path(__file__).with_name("llama_probe.py")
PROBE_TIMEOUT_S = 600.0
CHECKS_FILE = "llama-runtime-checks.json"
_LIBRARY_SUFFIXES = (".so", ".dylib", ".dll")


class RuntimeBuildBroken(ModelError):
    """The installed llama.cpp build dies on this machine; the message says how to rebuild."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="runtime_build", retryable=False)


@dataclass(frozen=True)
class RuntimeBuild:
    """The installed runtime, found without importing it (importing loads its libraries)."""

    version: str
    package_root: str  # the sys.path folder holding llama_cpp ("" when not installed)
    library_dir: str
    files: tuple[tuple[str, int, int], ...]  # (name, size, mtime_ns) of its shared libraries

    def key(self, model: Path) -> str:
        stat = model.stat()
        identity = [asdict(self), str(model), stat.st_size, stat.st_mtime_ns, _cpu_flags()]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()


def installed_build() -> RuntimeBuild:
    try:
        version = importlib.metadata.version(RUNTIME_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    spec = importlib.util.find_spec("llama_cpp")
    package = Path(spec.origin).parent if spec is not None and spec.origin else None
    # llama_cpp loads its libraries from $LLAMA_CPP_LIB_PATH when set, else from lib/.
    override = os.environ.get("LLAMA_CPP_LIB_PATH")
    folder = Path(override) if override else (package / "lib" if package else None)
    files: list[tuple[str, int, int]] = []
    if folder is not None and folder.is_dir():
        for path in sorted(folder.iterdir()):
            if any(s in path.name for s in _LIBRARY_SUFFIXES) and path.is_file():
                stat = path.stat()
                files.append((path.name, stat.st_size, stat.st_mtime_ns))
    root = str(package.parent) if package else ""
    return RuntimeBuild(version, root, str(folder) if folder else "not found", tuple(files))


def _cpu_flags() -> str:
    """This CPU's feature flags (a cache dir shared between machines must not carry over)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


_CHECKED: set[str] = set()
_LOCK = threading.Lock()


def ensure_runtime_works(model: Path, cache: Path) -> None:
    """Probe the runtime with ``model`` unless this build already passed here; raise if broken.

    Raises :class:`RuntimeBuildBroken` when the probe dies by a signal, :class:`ModelError`
    when it fails otherwise. A model that does not load is left to the caller's own load,
    which reports it precisely.
    """
    build = installed_build()
    key = build.key(model)
    with _LOCK:
        if key in _CHECKED:
            return
        checks = cache / CHECKS_FILE
        if key in _read_checks(checks):
            _CHECKED.add(key)
            return
        outcome = probe(model, build)
        if outcome.get("ok"):
            _record(checks, key, build, outcome)
            _CHECKED.add(key)
        elif "signal" in outcome:
            raise RuntimeBuildBroken(broken_message(build, model, outcome))
        elif "load_error" not in outcome:
            raise ModelError(
                f"the llama.cpp runtime check ({PROBE.name} {model.name}) failed with exit "
                f"status {outcome['returncode']}: {outcome['stderr']}",
                kind="runtime",
            )


def probe(model: Path, build: RuntimeBuild, *, timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """Run the probe on ``model`` in a child process: what it reported and how it ended."""
    command = [sys.executable, "-P", str(PROBE), str(model)]
    if build.package_root:
        command.append(build.package_root)
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ModelError(
            f"the llama.cpp runtime check did not finish in {timeout:.0f} s ({model.name})",
            kind="runtime",
        ) from None
    outcome: dict[str, Any] = {"returncode": done.returncode}
    for line in done.stdout.splitlines():
        try:
            reported = json.loads(line)
        except json.JSONDecodeError:
            continue  # the runtime's own prints
        if isinstance(reported, dict):
            outcome.update(reported)
    outcome["ok"] = done.returncode == 0 and outcome.get("ok") is True
    if done.returncode < 0:
        outcome["signal"] = -done.returncode
    outcome["stderr"] = " ".join(done.stderr.split())[-600:]
    return outcome


def built_with(system_info: str) -> str:
    """The features a ``llama_print_system_info()`` text reports on (``AVX2 = 1`` -> AVX2)."""
    flags = []
    for part in system_info.split("|"):
        name, _, value = part.rpartition("=")
        if value.strip() == "1":
            flags.append(name.split(":")[-1].strip())
    return " ".join(flags) or "unknown"


def broken_message(build: RuntimeBuild, model: Path, outcome: dict[str, Any]) -> str:
    number = outcome["signal"]
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    described = signal.strsignal(number) or name
    info = outcome.get("system_info")
    features = built_with(info) if info else "unknown (it died before reporting them)"
    library = outcome.get("library") or build.library_dir
    extra = [f for f in features.split() if f not in PORTABLE_FEATURES] if info else []
    if outcome.get("cpu_variants"):
        advice = (
            f"It ran the CPU backend ggml chose for this CPU among its variants "
            f"({', '.join(outcome['cpu_variants'])}), and its kernels fault here. Rebuild it "
            f"with the baseline kernels only: {REBUILD_RUNTIME}"
        )
    elif extra:
        advice = (
            f"It was compiled for the local CPU ({', '.join(extra)}), and such kernels (AMX "
            f"above all) fault on some machines. Rebuild it portably with: {REBUILD_RUNTIME}"
        )
    elif number == signal.SIGILL:
        advice = (
            "This CPU lacks an instruction the build uses (a build without CPU variants "
            "assumes AVX2, FMA and F16C). Rebuild it with a variant for every x86-64 CPU: "
            f"{_rebuild(CPU_VARIANTS_CMAKE_ARGS)}"
        )
    else:
        advice = f"Rebuild it portably with: {REBUILD_RUNTIME}"
    if advice.endswith(REBUILD_RUNTIME):
        advice += " (or, in an AutoMem checkout: bash scripts/install.sh)"
    return (
        f"the llama.cpp runtime crashed ({name}: {described}) decoding a short prompt with "
        f"{model.name} in a check process, so it cannot run models on this machine. "
        f"Runtime: {RUNTIME_PACKAGE} {build.version}, library {library}, built with: "
        f"{features}. {advice}"
    )


def _read_checks(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):  # absent or unreadable: it only costs a probe, then is rewritten
        return {}
    return data if isinstance(data, dict) else {}


def _record(path: Path, key: str, build: RuntimeBuild, outcome: dict[str, Any]) -> None:
    checks = _read_checks(path)
    checks[key] = {
        "version": build.version,
        "library": outcome.get("library") or build.library_dir,
        "built_with": built_with(outcome.get("system_info", "")),
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(checks, indent=1, sort_keys=True))
        os.replace(partial, path)
    except OSError as exc:  # the runtime works; only the memo of that is lost
        warnings.warn(
            f"could not record the llama.cpp runtime check in {path} ({exc}); it runs again "
            "in the next process",
            stacklevel=2,
        )


__all__ = [
    "CPU_VARIANTS_CMAKE_ARGS",
    "REBUILD_RUNTIME",
    "RUNTIME_VERSION",
    "RuntimeBuild",
    "RuntimeBuildBroken",
    "ensure_runtime_works",
    "installed_build",
    "probe",
]
