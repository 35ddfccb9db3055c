"""A LoRA adapter served beside its unchanged base model by the embedded runtime.

llama.cpp loads an adapter against a loaded model and applies a set of adapters per context,
so one loaded base serves its plain self and any number of adapters: before each call the
context gets the calling model's adapter (or none). A memory and an action model of one base
file therefore share one set of loaded weights (see :mod:`automem.models.local`); only the
adapter, a few MB, is loaded apart. No merged copy of the weights is ever made.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automem.core import ModelError

if TYPE_CHECKING:
    from automem.models.local import _Runtime

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class Adapter:
    """One adapter file (a llama.cpp LoRA GGUF) and the scale it is applied with."""

    path: Path
    sha256: str
    scale: float = 1.0

    @classmethod
    def open(cls, value: str, scale: float = 1.0) -> Adapter:
        """The adapter at ``value``, checked to be a GGUF file; ValueError says what is wrong."""
        from automem.models.local import file_sha256

        path = Path(value).expanduser()
        if not path.is_file():
            raise ValueError(f"lora={value!r}: no such adapter file")
        with path.open("rb") as handle:
            if handle.read(4) != GGUF_MAGIC:
                raise ValueError(
                    f"lora={value!r}: not a GGUF file; give the adapter.gguf that `automem "
                    "train` writes (or convert a PEFT adapter with automem.train.gguf_lora)"
                )
        if not 0.0 < scale <= 4.0:
            raise ValueError(f"lora_scale={scale}: must be in (0, 4]")
        path = path.resolve()
        return cls(path=path, sha256=file_sha256(path), scale=scale)

    @property
    def key(self) -> tuple[str, str, float]:
        return (str(self.path), self.sha256, self.scale)

    def details(self) -> dict[str, Any]:
        """What the model identity records of it."""
        return {"adapter": self.path.name, "adapter_sha256": self.sha256, "lora_scale": self.scale}


def activate(runtime: _Runtime, adapter: Adapter | None) -> None:
    """Make ``adapter`` (or none) the one the runtime's context applies; the caller holds the
    lock. An adapter is loaded once per runtime and kept until the runtime is released."""
    key = adapter.key if adapter is not None else None
    if runtime.active_adapter == key:
        return
    import llama_cpp

    llm = runtime.llm
    if adapter is None:
        status = llama_cpp.llama_set_adapters_lora(llm._ctx.ctx, None, 0, None)
    else:
        handle = runtime.adapters.get(key)
        if handle is None:
            handle = llama_cpp.llama_adapter_lora_init(
                llm._model.model, str(adapter.path).encode("utf-8")
            )
            if not handle:
                raise ModelError(
                    f"llama.cpp could not load the LoRA adapter {adapter.path}: is it an "
                    f"adapter of {Path(runtime.settings.path).name}?",
                    kind="load",
                )
            runtime.adapters[key] = handle
        handles = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(handle)
        scales = (ctypes.c_float * 1)(adapter.scale)
        status = llama_cpp.llama_set_adapters_lora(llm._ctx.ctx, handles, 1, scales)
    if status != 0:
        raise ModelError(f"llama.cpp could not set the LoRA adapter (status {status})", kind="load")
    runtime.active_adapter = key


__all__ = ["Adapter", "activate"]
