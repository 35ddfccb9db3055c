"""A PEFT LoRA adapter written as a llama.cpp LoRA GGUF, for the embedded runtime.

llama.cpp's adapter format (as its loader reads it): metadata ``general.type = adapter``,
``general.architecture`` equal to the base model's, ``adapter.type = lora`` and
``adapter.lora.alpha``; for each adapted weight ``W`` (GGUF name, e.g. ``blk.0.attn_q.weight``)
two tensors ``W.lora_a`` and ``W.lora_b``. In numpy (row-major) order ``lora_a`` is PEFT's
``lora_A.weight`` ``(r, in)`` and ``lora_b`` is ``lora_B.weight`` ``(out, r)``; the loader checks
``a.ne[0] == W.ne[0]`` (in), ``b.ne[1] == W.ne[1]`` (out) and ``a.ne[1] == b.ne[0]`` (r), and
scales ``B·A`` by ``alpha / r``, as PEFT does without rsLoRA.

One subtlety: for the ``llama`` architecture the GGUF stores the query and key projections with
their output rows permuted (the rotary-embedding layout llama.cpp uses), and transformers undoes
that permutation when it loads the GGUF. The LoRA was trained on transformers' layout, so the
rows of ``lora_b`` for ``attn_q`` and ``attn_k`` get the same permutation (``lora_a`` acts on
the input side and is unchanged). Tensor names come from the ``gguf`` package's own name map.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

SUPPORTED_ARCHS = ("llama",)  # architectures whose q/k layout this module knows
_PEFT_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")


class AdapterError(ValueError):
    """An adapter this converter cannot write faithfully; the message says why."""


def permute_rows(weight: np.ndarray, n_head: int) -> np.ndarray:
    """The rows of a q/k projection (or its LoRA B) in llama.cpp's rotary layout.

    Each head's rows are two halves (the rotary pairs' first and second members); llama.cpp
    interleaves them. ``weight`` has ``n_head * head_dim`` rows.
    """
    rows = weight.shape[0]
    if rows % (2 * n_head):
        raise AdapterError(f"{rows} rows do not split into {n_head} heads of rotary pairs")
    half = rows // n_head // 2
    return weight.reshape(n_head, 2, half, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


class BaseInfo(BaseModel):
    """What the converter needs from the base GGUF: architecture, heads, tensor shapes.

    Reading it parses the GGUF's whole metadata (its vocabulary too), which takes seconds, so
    :func:`automem.train.base.base_checkpoint` reads it once and stores it with the checkpoint.
    """

    file: str
    arch: str
    n_head: int
    n_head_kv: int
    n_blocks: int
    shapes: dict[str, tuple[int, ...]]  # numpy order (rows, columns); GGUF stores ne reversed

    @classmethod
    def read(cls, path: Path) -> BaseInfo:
        from gguf import GGUFReader

        reader = GGUFReader(path)
        arch = _field_str(reader, "general.architecture")
        n_head = _field_int(reader, f"{arch}.attention.head_count")
        return cls(
            file=path.name,
            arch=arch,
            n_head=n_head,
            n_head_kv=_field_int(reader, f"{arch}.attention.head_count_kv", n_head),
            n_blocks=_field_int(reader, f"{arch}.block_count"),
            shapes={t.name: tuple(int(d) for d in reversed(t.shape)) for t in reader.tensors},
        )


def _field(reader: Any, key: str) -> Any:
    field = reader.get_field(key)
    if field is None:
        return None
    return field.parts[field.data[0]]


def _field_str(reader: Any, key: str) -> str:
    value = _field(reader, key)
    if value is None:
        raise AdapterError(f"base GGUF has no {key}")
    return bytes(value).decode("utf-8")


def _field_int(reader: Any, key: str, default: int | None = None) -> int:
    value = _field(reader, key)
    if value is None:
        if default is None:
            raise AdapterError(f"base GGUF has no {key}")
        return default
    return int(value[0])


def gguf_tensors(adapter_dir: Path, base: BaseInfo) -> tuple[float, dict[str, np.ndarray]]:
    """(alpha, GGUF tensors by name) of a PEFT adapter folder, checked against the base."""
    from gguf import MODEL_ARCH_NAMES, get_tensor_name_map
    from safetensors.numpy import load_file

    config = _lora_config(adapter_dir)
    if base.arch not in SUPPORTED_ARCHS:
        raise AdapterError(
            f"base architecture {base.arch!r} is not supported (supported: {SUPPORTED_ARCHS})"
        )
    arch = next(a for a, name in MODEL_ARCH_NAMES.items() if name == base.arch)
    names = get_tensor_name_map(arch, base.n_blocks)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in load_file(str(adapter_dir / "adapter_model.safetensors")).items():
        match = _PEFT_KEY.match(key)
        if match is None:
            raise AdapterError(f"{adapter_dir}: unexpected tensor {key!r} (only LoRA A/B allowed)")
        target = names.get_name(match["module"])
        if target is None:
            raise AdapterError(f"{adapter_dir}: no GGUF tensor for module {match['module']!r}")
        pairs.setdefault(target + ".weight", {})[match["part"]] = value.astype(np.float32)
    tensors: dict[str, np.ndarray] = {}
    for name, pair in sorted(pairs.items()):
        a, b = pair.get("A"), pair.get("B")
        if a is None or b is None:
            raise AdapterError(f"{adapter_dir}: {name} lacks its lora_A or lora_B")
        shape = base.shapes.get(name)
        if shape is None:
            raise AdapterError(f"{name} is not a tensor of the base model {base.file}")
        if (b.shape[0], a.shape[1]) != shape or a.shape[0] != b.shape[1]:
            raise AdapterError(f"{name}: LoRA B{b.shape}·A{a.shape} does not make {shape}")
        if name.endswith(".attn_q.weight"):
            b = permute_rows(b, base.n_head)
        elif name.endswith(".attn_k.weight"):
            b = permute_rows(b, base.n_head_kv)
        tensors[name + ".lora_a"] = np.ascontiguousarray(a)
        tensors[name + ".lora_b"] = np.ascontiguousarray(b)
    if not tensors:
        raise AdapterError(f"{adapter_dir}: the adapter has no LoRA tensors")
    return float(config["lora_alpha"]), tensors


def _lora_config(adapter_dir: Path) -> dict[str, Any]:
    path = adapter_dir / "adapter_config.json"
    try:
        config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AdapterError(f"cannot read {path}: {exc.strerror}") from None
    if config.get("peft_type") != "LORA":
        raise AdapterError(f"{path}: not a LoRA adapter (peft_type {config.get('peft_type')})")
    # Each of these changes what B·A means; llama.cpp applies plain alpha/r-scaled B·A.
    for key, plain in (("use_rslora", False), ("use_dora", False), ("fan_in_fan_out", False)):
        if config.get(key, plain) != plain:
            raise AdapterError(f"{path}: {key}={config[key]} has no llama.cpp equivalent")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise AdapterError(f"{path}: per-module ranks or alphas are not supported")
    if config.get("modules_to_save"):
        raise AdapterError(f"{path}: modules_to_save (full weights) cannot go in a LoRA GGUF")
    return config


def write_gguf_adapter(adapter_dir: Path, base: BaseInfo, out: Path) -> Path:
    """Write the PEFT adapter in ``adapter_dir`` as a llama.cpp LoRA GGUF for the base model."""
    from gguf import GGUFType, GGUFWriter, Keys

    alpha, tensors = gguf_tensors(adapter_dir, base)
    partial = out.with_name(f".{out.name}.partial")
    writer = GGUFWriter(partial, base.arch)
    writer.add_type(GGUFType.ADAPTER)
    writer.add_string(Keys.Adapter.TYPE, "lora")
    writer.add_float32(Keys.Adapter.LORA_ALPHA, alpha)
    for name, tensor in tensors.items():
        writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(out)
    return out
