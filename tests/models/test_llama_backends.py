"""CPU variants: where a build keeps them, and the installed build loading the best for this CPU."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from automem.models.llama_backends import LIB_PATH_ENV, variant_folder, variants
from automem.models.llama_runtime import PROBE


def modules(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"libggml-cpu-{name}.so").write_bytes(b"")


@pytest.mark.parametrize("where", ["bin", "llama_cpp/lib"])
def test_the_variant_modules_are_found_where_an_install_puts_them(
    tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LIB_PATH_ENV, raising=False)
    modules(tmp_path / where, "zen4", "haswell", "x64")
    assert variant_folder(tmp_path) == tmp_path / where
    assert variants(tmp_path / where) == ["haswell", "x64", "zen4"]


def test_a_build_without_variants_has_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LIB_PATH_ENV, raising=False)
    lib = tmp_path / "llama_cpp" / "lib"
    lib.mkdir(parents=True)
    (lib / "libggml-cpu.so").write_bytes(b"")  # one CPU backend linked in: nothing to load
    assert variant_folder(tmp_path) is None


def test_with_a_library_path_set_only_that_folder_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modules(tmp_path / "bin", "zen4")  # the installed build's, not the one llama_cpp loads
    other = tmp_path / "portable"
    other.mkdir()
    monkeypatch.setenv(LIB_PATH_ENV, str(other))
    assert variant_folder(tmp_path) is None
    modules(other, "x64")
    assert variant_folder(tmp_path) == other


def _cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(platform.machine() != "x86_64", reason="CPU variants are built on x86-64")
def test_the_installed_runtime_loads_the_best_kernels_this_cpu_has() -> None:
    """The project's build (scripts/install.sh) has every variant and takes this CPU's best."""
    from automem.models.local import smollm2_path

    done = subprocess.run(
        [sys.executable, "-P", str(PROBE), str(smollm2_path())],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    reported: dict = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            reported.update(json.loads(line))
    assert {"x64", "haswell", "skylakex", "zen4"} <= set(reported.get("cpu_variants", []))
    info = reported["system_info"]
    flags = _cpu_flags()
    assert "AVX2 = 1" in info  # every variant a CPU with AVX2 scores best has it
    if "avx512f" in flags:
        assert "AVX512 = 1" in info, info
    if {"avx512_bf16", "avx512_vnni"} <= flags:  # zen4 or newer
        assert "AVX512_BF16 = 1" in info, info
