"""The llama.cpp runtime check: a build that crashes on this machine becomes a clear error.

The probe runs for real in a child process. Here it imports a stand-in ``llama_cpp`` package
(written to a temporary folder) whose decode really segfaults (it reads address 0 through
ctypes), so no native build is needed; the last test probes the installed runtime with
SmolLM2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from automem.core import ModelError
from automem.models import llama_runtime
from automem.models.llama_runtime import (
    CPU_VARIANTS_CMAKE_ARGS,
    REBUILD_RUNTIME,
    RUNTIME_VERSION,
    RuntimeBuildBroken,
    ensure_runtime_works,
)

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_INFO = "CPU : SSE3 = 1 | AVX2 = 1 | AMX_INT8 = 1 | AVX512_BF16 = 0 | OPENMP = 1 | "

# A stand-in for llama_cpp with just what the probe and the backend touch. MODE and INFO come
# from _settings.py. "crash" faults in decode as issue #9's AMX build did; "crash_after_probe"
# faults only outside the probe (past the check); "noload" and "error" raise.
FAKE_INIT = """
import ctypes
import os
import signal
import sys
import types

from . import llama_cpp  # the real package loads its library here
from ._settings import INFO, MODE


def llama_print_system_info():
    return INFO.encode()


def llama_set_n_threads(ctx, n_threads, n_threads_batch):
    pass


class Llama:
    def __init__(self, model_path, **kwargs):
        if MODE == "noload":
            raise ValueError("failed to load model from file: " + model_path)
        self.metadata = {"tokenizer.chat_template": "{{ messages }}"}
        self._model = types.SimpleNamespace(token_get_text=lambda token: "<eos>")
        self.input_ids, self.n_tokens, self._requires_eval = [], 0, True
        self.ctx = None

    def token_eos(self):
        return 2

    def token_bos(self):
        return -1

    def n_ctx(self):
        return 4096

    def reset(self):
        self.n_tokens = 0

    def tokenize(self, text, add_bos=True, special=False):
        return list(range(len(text.split())))

    def create_completion(self, **kwargs):
        in_probe = sys.argv[0].endswith("llama_probe.py")
        if MODE == "crash" or (MODE == "crash_after_probe" and not in_probe):
            ctypes.string_at(0)  # a read of address 0: SIGSEGV, as the faulting kernel died
        if MODE == "sigill":  # an instruction this CPU does not have
            os.kill(os.getpid(), signal.SIGILL)
        if MODE == "error":
            raise RuntimeError("llama_decode returned -3")
        return {
            "choices": [{"text": "ready", "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        }
"""
FAKE_CHAT_FORMAT = """
import types


class Jinja2ChatFormatter:
    def __init__(self, template, eos_token, bos_token):
        pass

    def __call__(self, messages):
        return types.SimpleNamespace(prompt=" ".join(m["content"] for m in messages))
"""


def fake_runtime(root: Path, mode: str, info: str = SYSTEM_INFO) -> Path:
    """A folder for sys.path holding a stand-in llama_cpp 0.3.36 that behaves as ``mode``."""
    package = root / "llama_cpp"
    (package / "lib").mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_INIT)
    (package / "_settings.py").write_text(f"MODE = {mode!r}\nINFO = {info!r}\n")
    (package / "llama_chat_format.py").write_text(FAKE_CHAT_FORMAT)
    (package / "llama_cpp.py").write_text(
        f"class _Lib:\n    _name = {str(package / 'lib' / 'libllama.so')!r}\n\n_lib = _Lib()\n"
    )
    for name in ("libllama.so", "libggml-cpu.so"):
        (package / "lib" / name).write_bytes(b"\x7fELF" + name.encode())
    dist = root / "llama_cpp_python-0.3.36.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: llama_cpp_python\nVersion: 0.3.36\n"
    )
    return root


def fake_gguf(folder: Path) -> Path:
    path = folder / "tiny.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


@pytest.fixture
def use_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Point this process at a stand-in runtime: ``use_fake(mode)`` returns its folder."""
    monkeypatch.setattr(llama_runtime, "_CHECKED", set())

    def install(mode: str, info: str = SYSTEM_INFO) -> Path:
        root = fake_runtime(tmp_path / f"fake-{mode}", mode, info)
        monkeypatch.syspath_prepend(str(root))
        monkeypatch.delitem(sys.modules, "llama_cpp", raising=False)  # find the stand-in
        return root

    return install


def test_a_probe_that_dies_by_a_signal_names_the_runtime_and_how_to_rebuild_it(
    tmp_path: Path, use_fake
) -> None:
    root = use_fake("crash")
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeBuildBroken) as err:
        ensure_runtime_works(fake_gguf(tmp_path), cache)
    message = str(err.value)
    assert err.value.kind == "runtime_build" and isinstance(err.value, ModelError)
    assert "crashed (SIGSEGV: Segmentation fault)" in message
    assert f"llama-cpp-python {RUNTIME_VERSION}" in message
    assert f"library {root / 'llama_cpp' / 'lib' / 'libllama.so'}" in message
    assert "built with: SSE3 AVX2 AMX_INT8 OPENMP." in message
    assert "compiled for the local CPU (AMX_INT8)" in message and REBUILD_RUNTIME in message
    assert REBUILD_RUNTIME == (
        'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --force-reinstall --no-deps '
        "--no-cache-dir llama-cpp-python==0.3.36"
    )
    assert not (cache / llama_runtime.CHECKS_FILE).exists()  # a failure is never remembered


def test_an_illegal_instruction_in_a_native_build_says_to_rebuild_it_portably(
    tmp_path: Path, use_fake
) -> None:
    """As on this project's build machine: the native AMX build dies of SIGILL (tileloadd)."""
    use_fake("sigill")
    with pytest.raises(RuntimeBuildBroken) as err:
        ensure_runtime_works(fake_gguf(tmp_path), tmp_path / "cache")
    message = str(err.value)
    assert "(SIGILL: Illegal instruction)" in message
    assert "compiled for the local CPU (AMX_INT8)" in message and REBUILD_RUNTIME in message


def test_an_illegal_instruction_in_a_portable_build_says_to_build_the_cpu_variants(
    tmp_path: Path, use_fake
) -> None:
    use_fake("sigill", "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | FMA = 1 | F16C = 1 | ")
    with pytest.raises(RuntimeBuildBroken) as err:
        ensure_runtime_works(fake_gguf(tmp_path), tmp_path / "cache")
    message = str(err.value)
    assert "lacks an instruction" in message
    assert f'CMAKE_ARGS="{CPU_VARIANTS_CMAKE_ARGS}" pip install --force-reinstall' in message
    assert REBUILD_RUNTIME not in message


def test_a_crash_in_a_cpu_variant_says_to_rebuild_with_the_baseline_kernels(
    tmp_path: Path,
) -> None:
    build = llama_runtime.RuntimeBuild(RUNTIME_VERSION, "/site", "/site/llama_cpp/lib", ())
    outcome = {
        "signal": signal.SIGILL,
        "cpu_variants": ["haswell", "sapphirerapids", "x64"],
        "system_info": "CPU : AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | ",
    }
    message = llama_runtime.broken_message(build, fake_gguf(tmp_path), outcome)
    assert "among its variants (haswell, sapphirerapids, x64)" in message
    assert "built with: AVX2 AVX512 AMX_INT8." in message
    assert "baseline kernels only" in message and REBUILD_RUNTIME in message
    assert "lacks an instruction" not in message  # a variant is chosen for this CPU


def test_a_working_build_is_probed_once_and_again_after_a_rebuild(
    tmp_path: Path, use_fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = use_fake("works")
    model, cache = fake_gguf(tmp_path), tmp_path / "cache"
    probes: list[Path] = []
    real_probe = llama_runtime.probe

    def counted(path: Path, build: llama_runtime.RuntimeBuild) -> dict:
        probes.append(path)
        return real_probe(path, build)

    monkeypatch.setattr(llama_runtime, "probe", counted)
    ensure_runtime_works(model, cache)
    checks = json.loads((cache / llama_runtime.CHECKS_FILE).read_text())
    (entry,) = checks.values()
    assert entry["version"] == "0.3.36" and entry["built_with"] == "SSE3 AVX2 AMX_INT8 OPENMP"
    ensure_runtime_works(model, cache)
    monkeypatch.setattr(llama_runtime, "_CHECKED", set())  # a new process: the file answers
    ensure_runtime_works(model, cache)
    assert len(probes) == 1
    library = root / "llama_cpp" / "lib" / "libggml-cpu.so"
    os.utime(library, ns=(1, 1))  # a reinstalled runtime: its library changed
    ensure_runtime_works(model, cache)
    assert len(probes) == 2
    assert len(json.loads((cache / llama_runtime.CHECKS_FILE).read_text())) == 2


def test_an_unwritable_cache_dir_costs_a_warning_not_the_model(tmp_path: Path, use_fake) -> None:
    use_fake("works")
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache dir should be")
    with pytest.warns(UserWarning, match="could not record the llama.cpp runtime check"):
        ensure_runtime_works(fake_gguf(tmp_path), blocked / "cache")


def test_a_model_that_does_not_load_is_left_to_the_backends_own_load(
    tmp_path: Path, use_fake
) -> None:
    use_fake("noload")
    ensure_runtime_works(fake_gguf(tmp_path), tmp_path / "cache")  # no verdict on the build
    assert not (tmp_path / "cache" / llama_runtime.CHECKS_FILE).exists()


def test_a_probe_that_fails_without_a_signal_is_a_runtime_error_with_its_output(
    tmp_path: Path, use_fake
) -> None:
    use_fake("error")
    with pytest.raises(ModelError) as err:
        ensure_runtime_works(fake_gguf(tmp_path), tmp_path / "cache")
    assert err.value.kind == "runtime" and not isinstance(err.value, RuntimeBuildBroken)
    assert "exit status 1" in str(err.value)
    assert "RuntimeError: llama_decode returned -3" in str(err.value)


def cli(tmp_path: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    env.update(PYTHONPATH=f"{root}{os.pathsep}{ROOT / 'src'}", AUTOMEM_CACHE_DIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", "automem.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )


def test_model_check_and_run_say_which_runtime_crashed_and_how_to_rebuild_it(
    tmp_path: Path,
) -> None:
    root = fake_runtime(tmp_path / "fake", "crash")
    spec = f"local:{fake_gguf(tmp_path)}"
    check = cli(tmp_path, root, "model", "check", spec)
    out = tmp_path / "run"
    run = cli(tmp_path, root, "run", "--model", spec, "--max-steps", "1", "--out", str(out))
    for done in (check, run):
        assert done.returncode == 3, (done.returncode, done.stderr[-2000:])
        assert "runtime_build: the llama.cpp runtime crashed (SIGSEGV" in done.stderr
        assert "llama-cpp-python 0.3.36" in done.stderr and "AMX_INT8" in done.stderr
        assert REBUILD_RUNTIME in " ".join(done.stderr.split())
        assert "Traceback" not in done.stderr and "Fatal Python error" not in done.stderr
    assert "llama_cpp_python: 0.3.36" in check.stdout  # the identity is printed first
    assert not out.exists()  # the run failed before writing anything


def test_a_native_crash_past_the_check_still_prints_a_python_stack(tmp_path: Path) -> None:
    root = fake_runtime(tmp_path / "fake", "crash_after_probe")
    done = cli(tmp_path, root, "model", "check", f"local:{fake_gguf(tmp_path)}")
    assert done.returncode == -signal.SIGSEGV
    assert "Fatal Python error: Segmentation fault" in done.stderr
    assert "automem/models/local.py" in done.stderr  # the frame that called into the runtime


def test_the_pinned_runtime_is_the_one_the_local_extra_installs() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["optional-dependencies"]["local"] == [
        f"llama-cpp-python=={RUNTIME_VERSION}"
    ]


@pytest.mark.slow
def test_the_installed_runtime_passes_the_probe_with_smollm2(tmp_path: Path) -> None:
    from automem.models.local import smollm2_path

    model = smollm2_path()
    build = llama_runtime.installed_build()
    assert build.version == RUNTIME_VERSION and build.files  # its libraries were found
    outcome = llama_runtime.probe(model, build)
    assert outcome["ok"] is True and outcome["returncode"] == 0, outcome
    assert outcome["system_info"].startswith("CPU :") and "AVX2" in outcome["system_info"]
    assert outcome["library"].startswith(build.library_dir)
