"""Does the GGUF adapter do in llama.cpp what the PEFT adapter does in transformers?

Both runtimes evaluate the same token ids (a training prompt rendered by the base model's chat
template, then the training reply) with and without the adapter. Compared at each reply
position, on next-token distributions:

* ``kl_peft_llama``: KL(PEFT || llama.cpp) with the adapter, the conversion's error;
* ``kl_base``: the same for the base models alone, the floor set by llama.cpp's quantised
  arithmetic (it multiplies Q4 weights by 8-bit activations; transformers uses fp32 copies);
* ``kl_adapter_peft`` / ``kl_adapter_llama``: how far the adapter moves each runtime;
* ``delta_correlation``: correlation of the adapter's logit shifts in the two runtimes, and
  ``delta_relative_error``: the norm of their difference over the norm of PEFT's shift;
* ``top1_agreement``: share of positions where both runtimes pick the same token;
* ``target_logprob_*``: mean log-probability of the reply's tokens, base and adapted, per runtime.

A wrong layout (say, q/k rows not permuted) leaves the base numbers alone but breaks the
adapted ones: the deltas stop correlating and ``kl_peft_llama`` grows toward ``kl_adapter``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel


class Agreement(BaseModel):
    tokens: int  # prompt + reply tokens evaluated
    positions: int  # reply positions compared
    same_tokenisation: bool  # llama.cpp's tokenizer gives the same ids as transformers'
    kl_peft_llama: float
    kl_base: float
    kl_adapter_peft: float
    kl_adapter_llama: float
    delta_correlation: float
    delta_relative_error: float
    top1_agreement: float
    target_logprob_base_peft: float
    target_logprob_lora_peft: float
    target_logprob_base_llama: float
    target_logprob_lora_llama: float


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _kl(p_log: np.ndarray, q_log: np.ndarray) -> float:
    """Mean over positions of KL(p || q), from log-probabilities."""
    return float((np.exp(p_log) * (p_log - q_log)).sum(axis=-1).mean())


def _target_logprob(logp: np.ndarray, targets: np.ndarray) -> float:
    return float(logp[np.arange(len(targets)), targets].mean())


def llama_logits(model_path: Path, ids: list[int], lora_path: Path | None = None) -> np.ndarray:
    """llama.cpp's logits at every position of ``ids`` (fp32 numpy, one row per token)."""
    from llama_cpp import Llama

    kwargs: dict[str, Any] = {"lora_path": str(lora_path)} if lora_path else {}
    llm = Llama(
        model_path=str(model_path),
        n_ctx=max(512, len(ids) + 8),
        n_batch=max(512, len(ids) + 8),
        logits_all=True,
        verbose=False,
        **kwargs,
    )
    try:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float32)
    finally:
        llm.close()


def llama_tokens(model_path: Path, text: str) -> list[int]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    try:
        return list(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))
    finally:
        llm.close()


def peft_logits(checkpoint: Path, adapter_dir: Path, ids: list[int]) -> tuple[Any, Any]:
    """(base logits, adapted logits) of transformers + PEFT at every position of ``ids``."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        checkpoint, dtype=torch.float32, local_files_only=True
    )
    adapted = PeftModel.from_pretrained(model, str(adapter_dir), local_files_only=True)
    adapted.eval()
    batch = torch.tensor([ids])
    with torch.no_grad():
        lora = adapted(input_ids=batch).logits[0].numpy()
        with adapted.disable_adapter():
            base = adapted(input_ids=batch).logits[0].numpy()
    return base, lora


@dataclass
class Reference:
    """The token ids of a probe conversation and the logits that need no adapter GGUF."""

    ids: list[int]
    n_prompt: int  # the reply starts at ids[n_prompt]
    same_tokenisation: bool
    peft_base: np.ndarray
    peft_lora: np.ndarray
    llama_base: np.ndarray


def reference(
    checkpoint: Path, adapter_dir: Path, base_gguf: Path, messages: list[dict[str, str]]
) -> Reference:
    """Evaluate ``messages`` (its last one is the reply) in transformers and base llama.cpp."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
    prompt = tokenizer.apply_chat_template(
        messages[:-1], tokenize=False, add_generation_prompt=True
    )
    text = prompt + messages[-1]["content"]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    peft_base, peft_lora = peft_logits(checkpoint, adapter_dir, ids)
    return Reference(
        ids=ids,
        n_prompt=n_prompt,
        same_tokenisation=llama_tokens(base_gguf, text) == ids,
        peft_base=peft_base,
        peft_lora=peft_lora,
        llama_base=llama_logits(base_gguf, ids),
    )


def agreement(ref: Reference, base_gguf: Path, adapter_gguf: Path) -> Agreement:
    """How closely llama.cpp with ``adapter_gguf`` matches the PEFT model on the reply."""
    llama_lora = llama_logits(base_gguf, ref.ids, adapter_gguf)
    # Position i predicts token i + 1: compare the positions that predict the reply.
    rows = slice(ref.n_prompt - 1, len(ref.ids) - 1)
    targets = np.array(ref.ids[ref.n_prompt :])
    logits = (ref.peft_base, ref.peft_lora, ref.llama_base, llama_lora)
    pb, pl, lb, ll = (_log_softmax(x[rows]) for x in logits)
    delta_peft = (ref.peft_lora[rows] - ref.peft_base[rows]).ravel()
    delta_llama = (llama_lora[rows] - ref.llama_base[rows]).ravel()
    return Agreement(
        tokens=len(ref.ids),
        positions=len(targets),
        same_tokenisation=ref.same_tokenisation,
        kl_peft_llama=_kl(pl, ll),
        kl_base=_kl(pb, lb),
        kl_adapter_peft=_kl(pl, pb),
        kl_adapter_llama=_kl(ll, lb),
        delta_correlation=float(np.corrcoef(delta_peft, delta_llama)[0, 1]),
        delta_relative_error=float(
            np.linalg.norm(delta_llama - delta_peft) / np.linalg.norm(delta_peft)
        ),
        top1_agreement=float((pl.argmax(-1) == ll.argmax(-1)).mean()),
        target_logprob_base_peft=_target_logprob(pb, targets),
        target_logprob_lora_peft=_target_logprob(pl, targets),
        target_logprob_base_llama=_target_logprob(lb, targets),
        target_logprob_lora_llama=_target_logprob(ll, targets),
    )


def compare(
    checkpoint: Path,
    adapter_dir: Path,
    base_gguf: Path,
    adapter_gguf: Path,
    messages: list[dict[str, str]],
) -> Agreement:
    """The agreement of the two runtimes on ``messages`` (its last one is the reply scored)."""
    return agreement(
        reference(checkpoint, adapter_dir, base_gguf, messages), base_gguf, adapter_gguf
    )


def greedy(model_path: Path, prompt_ids: list[int], max_tokens: int, lora: Path | None) -> str:
    """llama.cpp's greedy continuation of ``prompt_ids``."""
    from llama_cpp import Llama

    kwargs: dict[str, Any] = {"lora_path": str(lora)} if lora else {}
    llm = Llama(model_path=str(model_path), n_ctx=1024, verbose=False, **kwargs)
    try:
        out = llm.create_completion(
            prompt=prompt_ids, max_tokens=max_tokens, temperature=0.0, top_k=1
        )
        return str(out["choices"][0]["text"])
    finally:
        llm.close()
