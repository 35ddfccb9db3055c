"""The LoRA GGUF for llama.cpp: its layout, its refusals, and llama.cpp running it like PEFT."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from automem.models.local import smollm2_path
from automem.train import gguf_lora
from automem.train.base import base_gguf
from automem.train.gguf_lora import AdapterError, BaseInfo, gguf_tensors, permute_rows
from automem.train.verify import Reference, agreement, greedy, reference
from tests.train.conftest import training_examples

# A two-block llama with 2 heads of 4 dims (1 KV head): enough for the layout rules.
TOY = BaseInfo(
    file="toy.gguf",
    arch="llama",
    n_head=2,
    n_head_kv=1,
    n_blocks=2,
    shapes={"blk.0.attn_q.weight": (8, 8), "blk.0.attn_k.weight": (4, 8)},
)


def adapter(folder: Path, tensors: dict[str, np.ndarray], **config: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    settings = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, **config}
    (folder / "adapter_config.json").write_text(json.dumps(settings))
    return folder


def lora(module: str, out: int, rank: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    key = f"base_model.model.model.layers.0.self_attn.{module}"
    return {
        f"{key}.lora_A.weight": rng.standard_normal((rank, 8)).astype(np.float32),
        f"{key}.lora_B.weight": rng.standard_normal((out, rank)).astype(np.float32),
    }


def test_permute_rows_interleaves_the_halves_of_each_head() -> None:
    rows = np.arange(8, dtype=np.float32)[:, None]  # 2 heads x (2 halves of 2 rows)
    assert permute_rows(rows, 2).ravel().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]
    with pytest.raises(AdapterError, match="do not split"):
        permute_rows(np.zeros((6, 1)), 2)


def test_names_orientation_and_permutation(tmp_path: Path) -> None:
    tensors = {**lora("q_proj", 8), **lora("k_proj", 4)}
    alpha, out = gguf_tensors(adapter(tmp_path / "a", tensors), TOY)
    assert alpha == 4.0
    assert sorted(out) == [
        "blk.0.attn_k.weight.lora_a",
        "blk.0.attn_k.weight.lora_b",
        "blk.0.attn_q.weight.lora_a",
        "blk.0.attn_q.weight.lora_b",
    ]
    key = "base_model.model.model.layers.0.self_attn"
    # lora_a is PEFT's A (r, in) as is; lora_b is B (out, r) with q/k rows permuted per head.
    assert np.array_equal(out["blk.0.attn_q.weight.lora_a"], tensors[f"{key}.q_proj.lora_A.weight"])
    b_q = tensors[f"{key}.q_proj.lora_B.weight"]
    assert np.array_equal(out["blk.0.attn_q.weight.lora_b"], permute_rows(b_q, 2))
    b_k = tensors[f"{key}.k_proj.lora_B.weight"]
    assert np.array_equal(out["blk.0.attn_k.weight.lora_b"], permute_rows(b_k, 1))


@pytest.mark.parametrize(
    ("config", "tensors", "message"),
    [
        ({"use_rslora": True}, lora("q_proj", 8), "use_rslora=True has no llama.cpp"),
        ({"use_dora": True}, lora("q_proj", 8), "use_dora"),
        ({"modules_to_save": ["lm_head"]}, lora("q_proj", 8), "modules_to_save"),
        ({"peft_type": "IA3"}, lora("q_proj", 8), "not a LoRA adapter"),
        ({}, lora("q_proj", 4), r"does not make \(8, 8\)"),
        ({}, lora("v_proj", 4), "not a tensor of the base model toy.gguf"),
        ({}, {"base_model.model.lm_head.weight": np.zeros((2, 2), np.float32)}, "unexpected"),
        ({}, dict(list(lora("q_proj", 8).items())[:1]), "lacks its lora_A or lora_B"),
    ],
)
def test_refuses_what_llama_cpp_would_apply_differently(
    tmp_path: Path, config: dict[str, object], tensors: dict[str, np.ndarray], message: str
) -> None:
    with pytest.raises(AdapterError, match=message):
        gguf_tensors(adapter(tmp_path / "a", tensors, **config), TOY)
    with pytest.raises(AdapterError, match="not supported"):
        gguf_tensors(
            adapter(tmp_path / "b", lora("q_proj", 8)), TOY.model_copy(update={"arch": "x"})
        )


# --------------------------------------------------------------------------- real model


@pytest.mark.slow
def test_permutation_takes_transformers_q_k_to_the_gguf_layout(base_ckpt: Path) -> None:
    from gguf import GGUFReader, dequantize
    from safetensors import safe_open

    path, info = base_gguf(base_ckpt)
    assert (info.arch, info.n_head, info.n_head_kv, info.n_blocks) == ("llama", 9, 3, 30)
    tensors = {t.name: t for t in GGUFReader(path).tensors}
    with safe_open(str(base_ckpt / "model.safetensors"), "np") as hf:
        for layer in (0, 29):
            for module, gguf_name, heads in (("q_proj", "attn_q", 9), ("k_proj", "attn_k", 3)):
                ours = hf.get_tensor(f"model.layers.{layer}.self_attn.{module}.weight")
                theirs = tensors[f"blk.{layer}.{gguf_name}.weight"]
                dense = dequantize(theirs.data, theirs.tensor_type)
                assert np.array_equal(permute_rows(ours, heads), dense)
                assert not np.array_equal(ours, dense)  # the permutation is not a no-op


# The adapter's logit shift in llama.cpp may differ from PEFT's by this share of its size
# (measured: 0.03 right, 0.14 with q/k rows left unpermuted).
SHIFT_ERROR = 0.08


@pytest.fixture(scope="module")
def ref(run: Path, base_ckpt: Path) -> Reference:
    messages = [m.model_dump() for m in training_examples()[0].messages]
    return reference(base_ckpt, run / "adapter", smollm2_path(), messages)


@pytest.mark.slow
def test_llama_cpp_with_the_gguf_adapter_agrees_with_peft(run: Path, ref: Reference) -> None:
    got = agreement(ref, smollm2_path(), run / "adapter.gguf")
    print(got.model_dump_json(indent=1))  # the figures, for -s runs
    assert got.same_tokenisation
    # The adapter moves both runtimes far, and the same way: the adapted runtimes differ less
    # than the base models do (llama.cpp multiplies Q4 weights by 8-bit activations).
    assert got.kl_adapter_peft > 0.1
    assert got.kl_adapter_llama > 0.1
    assert got.kl_peft_llama < got.kl_base / 2
    assert got.kl_peft_llama < got.kl_adapter_peft / 100
    assert got.delta_correlation > 0.99
    assert got.delta_relative_error < SHIFT_ERROR
    assert got.top1_agreement >= 0.95  # at most one near-tie may flip
    # Both move toward the training reply, by about the same amount.
    gain_peft = got.target_logprob_lora_peft - got.target_logprob_base_peft
    gain_llama = got.target_logprob_lora_llama - got.target_logprob_base_llama
    assert gain_peft > 0.3
    assert abs(gain_llama - gain_peft) < 0.05 * gain_peft


@pytest.mark.slow
def test_an_unpermuted_adapter_is_caught(
    run: Path, base_ckpt: Path, ref: Reference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above has teeth: without the q/k permutation the runtimes disagree."""
    monkeypatch.setattr(gguf_lora, "permute_rows", lambda weight, n_head: weight)
    _, info = base_gguf(base_ckpt)
    bad = gguf_lora.write_gguf_adapter(run / "adapter", info, tmp_path / "bad.gguf")
    got = agreement(ref, smollm2_path(), bad)
    print(got.model_dump_json(indent=1))  # the figures, for -s runs
    # v, o and the MLP are still right, so the shifts still correlate; they do not match.
    # Each criterion of the check above fails on its own.
    assert got.kl_peft_llama > got.kl_base / 2
    assert got.delta_relative_error > SHIFT_ERROR


@pytest.mark.slow
def test_greedy_output_moves_toward_the_training_reply(run: Path, base_ckpt: Path) -> None:
    from transformers import AutoTokenizer

    example = training_examples()[0]
    tokenizer = AutoTokenizer.from_pretrained(base_ckpt, local_files_only=True)
    messages = [m.model_dump() for m in example.messages[:-1]]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    before = greedy(smollm2_path(), ids, 24, None)
    after = greedy(smollm2_path(), ids, 24, run / "adapter.gguf")
    print(f"base: {before!r}\nadapted: {after!r}")  # for -s runs
    assert after != before

    def shared(text: str) -> int:
        return next(
            (i for i, (a, b) in enumerate(zip(text, example.reply, strict=False)) if a != b),
            min(len(text), len(example.reply)),
        )

    assert shared(after) > shared(before), (before, after)
    assert after.startswith("<|APPEND|>map_notes|"), after
