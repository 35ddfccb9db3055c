"""The CPU kernels of a llama.cpp build with one CPU backend per x86-64 generation.

Built with ``GGML_BACKEND_DL=ON GGML_CPU_ALL_VARIANTS=ON`` (scripts/install.sh does), llama.cpp
has no CPU backend of its own: it ships one module per CPU generation (``libggml-cpu-x64.so``,
``-haswell``, ``-skylakex``, ``-zen4``, ...), and a program loads the best one this CPU runs,
as ggml scores them. So one build runs on any x86-64 machine and still takes the AVX-512
kernels of a machine that has them. llama-cpp-python does not load them itself: until
:func:`load_cpu_backends` has run in the process, such a build has no device to load a model
on. A build without variants (one CPU backend linked in) needs nothing and is left alone.

Standard library only: the runtime probe, a plain script, loads it by path.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import threading
from pathlib import Path

VARIANT_GLOB = "libggml-cpu-*.so"
LIB_PATH_ENV = "LLAMA_CPP_LIB_PATH"  # llama_cpp's own setting: where its libraries are
# ggml's install rule puts backend modules in <prefix>/bin; in a wheel, beside llama_cpp.
_MODULE_FOLDERS = ("llama_cpp/lib", "bin", "lib")

_loaded: Path | None = None
_LOCK = threading.Lock()


def variant_folder(package_root: Path | None = None) -> Path | None:
    """Where the installed build keeps its CPU variant modules, or None if it has none.

    ``package_root`` is the ``sys.path`` folder holding ``llama_cpp`` (found when None). With
    ``$LLAMA_CPP_LIB_PATH`` set, llama_cpp loads its libraries from there, and only there are
    variants looked for (another build's would not match them).
    """
    override = os.environ.get(LIB_PATH_ENV)
    if override:
        folder = Path(override)
        return folder if any(folder.glob(VARIANT_GLOB)) else None
    if package_root is None:
        spec = importlib.util.find_spec("llama_cpp")
        if spec is None or not spec.origin:
            return None
        package_root = Path(spec.origin).parent.parent
    for relative in _MODULE_FOLDERS:
        folder = package_root / relative
        if folder.is_dir() and any(folder.glob(VARIANT_GLOB)):
            return folder
    return None


def variants(folder: Path) -> list[str]:
    """The CPU generations ``folder`` has modules for (``libggml-cpu-zen4.so`` -> zen4)."""
    return sorted(p.name[len("libggml-cpu-") : -len(".so")] for p in folder.glob(VARIANT_GLOB))


def load_cpu_backends(llama_cpp_module: object) -> Path | None:
    """Load the best CPU variant for this CPU into the process (once); the folder, or None.

    Call after importing ``llama_cpp`` (whose libraries must be the ones the modules link
    against) and before loading a model. Raises RuntimeError if the build has variant modules
    but none of them registered (none runs on this CPU, or they do not match the library).
    """
    global _loaded
    with _LOCK:  # once per process: ggml scans and scores every module on each load
        if _loaded is not None:
            return _loaded
        package = Path(getattr(llama_cpp_module, "__file__", "")).parent
        folder = variant_folder(package.parent)
        if folder is None:
            return None
        _register_best(_ggml_library(package), folder)
        _loaded = folder
        return folder


def _register_best(ggml: ctypes.CDLL, folder: Path) -> None:
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load_all_from_path.restype = None
    ggml.ggml_backend_dev_count.restype = ctypes.c_size_t
    ggml.ggml_backend_load_all_from_path(str(folder).encode())  # ggml logs which it loaded
    if ggml.ggml_backend_dev_count() == 0:
        raise RuntimeError(
            f"none of llama.cpp's CPU backends in {folder} ({', '.join(variants(folder))}) "
            "loaded on this CPU; rebuild the runtime: bash scripts/install.sh"
        )


def _ggml_library(package: Path) -> ctypes.CDLL:
    """The ggml library llama_cpp already loaded: the backend registry lives in it.

    A wheel holds no symlinks, so ``libggml.so`` and ``libggml.so.0`` are two copies of one
    file, and opening the first by path would load a second library with an empty registry.
    Asked by its soname with RTLD_NOLOAD, the loader returns the one libllama linked against.
    """
    folder = Path(os.environ.get(LIB_PATH_ENV) or package / "lib")
    sonames = sorted(p.name for p in folder.glob("libggml.so.*") if p.name.count(".") == 2)
    for name in [*sonames, "libggml.so", "libggml.dylib"]:
        try:
            return ctypes.CDLL(name, mode=os.RTLD_NOLOAD | os.RTLD_GLOBAL)
        except OSError:
            continue
    raise RuntimeError(f"llama.cpp's ggml library from {folder} is not loaded: import llama_cpp")
