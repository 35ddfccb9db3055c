"""The reply grammar: every reply it admits parses into the shape the agent loop expects.

Replies are sampled from the GBNF text itself by a small interpreter of the GBNF subset the
builder emits, so the property tests check the grammar llama.cpp receives, not a re-statement
of it. That llama.cpp compiles each grammar is checked in ``test_grammar_llama.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automem.core import CompletionRequest, Message, Sampling
from automem.envs.crafter.env import ACTION_NAMES
from automem.memory import parse_commands
from automem.memory.ops import ARITY, CONTENT_WRITE_OPS, MEMORY_OPS, READ_OPS
from automem.models.grammar import GrammarError, build_gbnf, grammar_limits
from automem.scaffold import builtin_names, load

CRAFTER_ACTIONS = ACTION_NAMES  # the env module is light: importing it runs no game
# NetHack-like names with characters a GBNF literal must escape or that look like syntax.
ODD_ACTIONS = (
    "far east",
    "y",
    "esc",
    "#pray",
    'say "hi"',
    "back\\slash",
    "pipe|name",
    "[bracket]",
    "caf\u00e9",
    "snow \u2603",
    "emoji \U0001f600",
    "tab\there",
    "<",
    ">",
    "::=",
)
FILES = ("map_notes", "crafting_progress", "survival_log", "actions_log", "strategy")
_GOOD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def request(
    phase: str = "log",
    *,
    ops: tuple[str, ...] | None = None,
    actions: tuple[str, ...] = CRAFTER_ACTIONS,
    files: tuple[str, ...] = FILES,
    reasoning: bool = True,
    max_tokens: int = 512,
    min_commands: int = 0,
    empty: tuple[str, ...] = (),
) -> CompletionRequest:
    scaffold = load("crafter-v0")
    return CompletionRequest(
        messages=(Message(role="user", content="hello"),),
        phase=phase,  # type: ignore[arg-type]
        allowed_ops=ops if ops is not None else scaffold.vocabulary.ops(phase),
        actions=actions,
        memory_files=files,
        empty_files=empty,
        sampling=Sampling(max_tokens=max_tokens),
        constrained=True,
        reasoning=reasoning,
        min_commands=min_commands,
    )


# --------------------------------------------------------------------------- a GBNF sampler


@dataclass
class Node:
    kind: str  # "lit", "class", "ref", "alt", "seq", "rep"
    value: object = None
    low: int = 0
    high: int = 0


class GbnfSampler:
    """Parses the GBNF subset the builder emits and draws random strings from it."""

    def __init__(self, text: str) -> None:
        self.rules: dict[str, Node] = {}
        for line in text.strip().splitlines():
            name, _, body = line.partition(" ::= ")
            assert re.fullmatch(r"[a-z0-9-]+", name), line
            self.src, self.pos = body, 0
            self.rules[name] = self._alt()
            assert self.pos == len(body), f"unparsed GBNF: {body[self.pos :]!r}"
        for name in self._refs():
            assert name in self.rules, f"undefined rule {name}"

    def _refs(self) -> set[str]:
        found: set[str] = set()

        def walk(node: Node) -> None:
            if node.kind == "ref":
                found.add(node.value)  # type: ignore[arg-type]
            elif node.kind in ("alt", "seq"):
                for child in node.value:  # type: ignore[union-attr]
                    walk(child)
            elif node.kind == "rep":
                walk(node.value)  # type: ignore[arg-type]

        for node in self.rules.values():
            walk(node)
        return found

    # parsing
    def _skip(self) -> None:
        while self.pos < len(self.src) and self.src[self.pos] == " ":
            self.pos += 1

    def _alt(self) -> Node:
        options = [self._seq()]
        while self.pos < len(self.src) and self.src[self.pos] == "|":
            self.pos += 1
            options.append(self._seq())
        return options[0] if len(options) == 1 else Node("alt", options)

    def _seq(self) -> Node:
        items = []
        while True:
            self._skip()
            if self.pos >= len(self.src) or self.src[self.pos] in "|)":
                break
            items.append(self._postfix(self._atom()))
        return Node("seq", items)

    def _atom(self) -> Node:
        ch = self.src[self.pos]
        if ch == '"':
            self.pos += 1
            out = []
            while self.src[self.pos] != '"':
                out.append(self._char())
            self.pos += 1
            return Node("lit", "".join(out))
        if ch == "[":
            self.pos += 1
            negated = self.src[self.pos] == "^"
            assert not negated, "the builder emits no negated classes"
            chars: list[str] = []
            while self.src[self.pos] != "]":
                first = self._char()
                if self.src[self.pos] == "-" and self.src[self.pos + 1] != "]":
                    self.pos += 1
                    last = self._char()
                    chars.extend(chr(c) for c in range(ord(first), ord(last) + 1))
                else:
                    chars.append(first)
            self.pos += 1
            return Node("class", "".join(chars))
        if ch == "(":
            self.pos += 1
            node = self._alt()
            assert self.src[self.pos] == ")"
            self.pos += 1
            return node
        match = re.compile(r"[a-z0-9-]+").match(self.src, self.pos)
        assert match, f"bad GBNF at {self.src[self.pos :]!r}"
        self.pos = match.end()
        return Node("ref", match.group())

    def _char(self) -> str:
        ch = self.src[self.pos]
        if ch != "\\":
            self.pos += 1
            return ch
        esc = self.src[self.pos + 1]
        simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "[": "[", "]": "]"}
        if esc in simple:
            self.pos += 2
            return simple[esc]
        width = {"x": 2, "u": 4, "U": 8}[esc]
        code = int(self.src[self.pos + 2 : self.pos + 2 + width], 16)
        self.pos += 2 + width
        return chr(code)

    def _postfix(self, node: Node) -> Node:
        if self.pos < len(self.src):
            ch = self.src[self.pos]
            if ch in "?*+":
                self.pos += 1
                low, high = {"?": (0, 1), "*": (0, 8), "+": (1, 8)}[ch]
                return Node("rep", node, low, high)
            if ch == "{":
                end = self.src.index("}", self.pos)
                low, high = (int(x) for x in self.src[self.pos + 1 : end].split(","))
                self.pos = end + 1
                return Node("rep", node, low, high)
        return node

    # sampling
    def draw(self, data: st.DataObject, rule: str = "root") -> str:
        return self._gen(self.rules[rule], data)

    def _gen(self, node: Node, data: st.DataObject) -> str:
        kind = node.kind
        if kind == "lit":
            return node.value  # type: ignore[return-value]
        if kind == "class":
            return data.draw(st.sampled_from(node.value))  # type: ignore[arg-type]
        if kind == "ref":
            return self._gen(self.rules[node.value], data)  # type: ignore[index]
        if kind == "alt":
            return self._gen(data.draw(st.sampled_from(node.value)), data)  # type: ignore[arg-type]
        if kind == "seq":
            return "".join(self._gen(child, data) for child in node.value)  # type: ignore[union-attr]
        # Repetitions: mostly short, sometimes the longest the grammar allows.
        count = data.draw(
            st.one_of(
                st.integers(node.low, min(node.high, node.low + 3)),
                st.just(node.high),
                st.integers(node.low, node.high),
            )
        )
        return "".join(self._gen(node.value, data) for _ in range(count))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the shape checks


def check_reply(reply: str, req: CompletionRequest) -> None:
    """Assert ``reply`` parses cleanly into the phase's expected shape."""
    parsed = parse_commands(reply)
    assert parsed.normalisations == (), (reply, parsed.normalisations)
    commands = parsed.commands
    assert commands, reply
    limits = grammar_limits(req)
    assert len(reply.encode()) <= limits.max_bytes, reply
    for command in commands:
        assert command.raw in reply
        assert len(command.args) == ARITY[command.op], command
        if command.op in MEMORY_OPS:
            assert command.op in req.allowed_ops
            first = command.args[0]
            if command.op != "UPSERT_MAP":
                assert _GOOD_NAME.fullmatch(first) and ".." not in first, command
            if command.op in READ_OPS and req.memory_files:
                assert first in req.memory_files and first not in req.empty_files
            assert all(arg and arg == arg.strip() for arg in command.args), command
            assert all("\n" not in arg and "<" not in arg for arg in command.args), command
    if req.phase == "log":
        assert commands[-1].op == "DONE", reply
        body = commands[:-1]
        assert all(c.op in MEMORY_OPS for c in body), reply
        assert req.min_commands <= len(body) <= limits.commands
        assert all(c.op in CONTENT_WRITE_OPS for c in body[: req.min_commands]), reply
    else:
        if commands[0].op == "ACTION":
            assert req.min_commands == 0, reply
            assert len(commands) == 1, reply
            assert commands[0].args[0] in req.actions, reply
        else:
            assert all(c.op in READ_OPS for c in commands), reply
            assert req.min_commands <= len(commands) <= limits.commands
    if req.reasoning:
        assert "\n" not in parsed.prose
        assert len(parsed.prose) <= limits.reason
    else:
        assert parsed.prose == "", reply


op_subsets = {
    "log": st.lists(
        st.sampled_from(["SEARCH", "READ", "TAIL", "COUNT", "APPEND", "WRITE", "CREATE"]),
        unique=True,
    ).map(lambda ops: (*ops, "DONE")),
    "plan": st.lists(st.sampled_from(["SEARCH", "READ", "TAIL", "COUNT"]), unique=True).map(
        lambda ops: (*ops, "ACTION")
    ),
}


@st.composite
def requests(draw: st.DrawFn) -> CompletionRequest:
    phase = draw(st.sampled_from(["log", "plan"]))
    ops = draw(op_subsets[phase])
    if phase == "log" and draw(st.booleans()):
        ops = (*ops, "UPSERT_MAP")
    actions = draw(
        st.lists(st.sampled_from(CRAFTER_ACTIONS + ODD_ACTIONS), min_size=1, unique=True).map(tuple)
    )
    files = draw(st.lists(st.sampled_from([*FILES, "dungeon_map", "a.txt", "x-1"]), unique=True))
    empty = draw(st.lists(st.sampled_from(files), unique=True)) if files else []
    return request(
        phase,
        ops=ops,
        actions=actions,
        files=tuple(files),
        empty=tuple(empty),
        reasoning=draw(st.booleans()),
        max_tokens=draw(st.sampled_from([16, 48, 96, 160, 256, 512, 1024])),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=requests(), data=st.data())
def test_every_reply_the_grammar_admits_parses_into_the_phase_shape(
    req: CompletionRequest, data: st.DataObject
) -> None:
    sampler = GbnfSampler(build_gbnf(req))
    check_reply(sampler.draw(data), req)


@pytest.mark.parametrize("scaffold", builtin_names())
@pytest.mark.parametrize("phase", ["log", "plan"])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_builtin_scaffold_grammars_admit_only_valid_replies(
    scaffold: str, phase: str, data: st.DataObject
) -> None:
    vocabulary = load(scaffold).vocabulary
    req = request(
        phase, ops=vocabulary.ops(phase), files=tuple(f.name for f in load(scaffold).files)
    )
    check_reply(GbnfSampler(build_gbnf(req)).draw(data), req)


def test_crafter_grammars_read_as_designed() -> None:
    log = build_gbnf(request("log"))
    assert log.startswith('root ::= reason? (cmd "\\n"){0,3} "<|DONE|>"\n')
    assert 'append ::= "<|APPEND|>" name "|" text "<|END|>"' in log
    assert 'file ::= "map_notes" | "crafting_progress"' in log
    assert "ACTION" not in log
    plan = build_gbnf(request("plan"))
    assert plan.startswith("root ::= reason? (action | reads)\n")
    assert 'act ::= "Noop" | "Move West" |' in plan
    assert "APPEND" not in plan and "DONE" not in plan


def test_without_reasoning_there_is_no_free_text_line() -> None:
    gbnf = build_gbnf(request("plan", reasoning=False))
    assert "reason" not in gbnf
    assert gbnf.startswith("root ::= (action | reads)\n")


def test_odd_action_names_are_escaped_and_unusable_ones_dropped() -> None:
    actions = (*ODD_ACTIONS, "bad<|tag", " padded ", "two\nlines", "")
    gbnf = build_gbnf(request("plan", actions=actions))
    act = next(line for line in gbnf.splitlines() if line.startswith("act ::= "))
    assert '"say \\"hi\\""' in act and '"back\\\\slash"' in act
    assert '"caf\\xE9"' in act and '"snow \\u2603"' in act and '"emoji \\U0001F600"' in act
    assert '"tab\\x09here"' in act
    assert "bad" not in act and "padded" not in act and "two" not in act
    sampler = GbnfSampler(gbnf)
    options = sampler.rules["act"].value  # an alternation of one-literal sequences
    assert [option.value[0].value for option in options] == list(ODD_ACTIONS)  # type: ignore


def test_reads_use_known_files_and_writes_may_name_new_ones() -> None:
    gbnf = build_gbnf(request("log", files=("notes",)))
    assert 'file ::= "notes"\n' in gbnf
    assert "name ::= [A-Za-z0-9]" in gbnf
    no_files = build_gbnf(request("log", files=()))
    assert "file ::= name\n" in no_files


def test_reads_never_name_an_empty_file() -> None:
    gbnf = build_gbnf(request("plan", empty=("map_notes", "strategy")))
    assert 'file ::= "crafting_progress" | "survival_log" | "actions_log"\n' in gbnf
    assert "(action | reads)" in gbnf


def test_with_every_file_empty_no_read_is_offered() -> None:
    plan = build_gbnf(request("plan", empty=FILES))
    assert plan.startswith("root ::= reason? action\n")
    assert "SEARCH" not in plan and "READ" not in plan and "reads" not in plan
    log = build_gbnf(request("log", empty=FILES))
    assert "APPEND" in log and "WRITE" in log and "CREATE" in log
    assert not any(op in log for op in ("SEARCH", "READ", "TAIL", "COUNT"))
    # The same ops with no files at all keep their reads (any name): nothing is known of them.
    assert "SEARCH" in build_gbnf(request("plan", files=()))
    with pytest.raises(GrammarError, match="no such command"):
        build_gbnf(request("plan", empty=FILES, min_commands=1))


def test_a_reply_the_grammar_admits_always_fits_max_tokens() -> None:
    for max_tokens in (8, 16, 32, 64, 128, 256, 512, 4096):
        for phase in ("log", "plan"):
            limits = grammar_limits(request(phase, max_tokens=max_tokens))
            shortest = (
                len("<|DONE|>") if phase == "log" else len("<|ACTION|>Make Stone Pickaxe<|END|>")
            )
            assert limits.max_bytes <= max(limits.budget, shortest)
    roomy = grammar_limits(request("log", max_tokens=4096))
    assert roomy.commands == 6 and roomy.text == 200 and roomy.reason == 160
    tight = grammar_limits(request("log", max_tokens=64))
    assert tight.commands == 0  # no command fits: the grammar admits only an optional line + DONE


@settings(max_examples=60, deadline=None)
@given(data=st.data(), least=st.integers(1, 3), phase=st.sampled_from(["log", "plan"]))
def test_a_floor_of_commands_admits_no_reply_with_fewer(
    data: st.DataObject, least: int, phase: str
) -> None:
    req = request(phase, min_commands=least)
    check_reply(GbnfSampler(build_gbnf(req)).draw(data), req)  # it checks the floor


def test_the_collection_floor_reads_as_designed() -> None:
    log = build_gbnf(request("log", min_commands=1))
    assert log.startswith('root ::= reason? (wcmd "\\n"){1,1} (cmd "\\n"){0,2} "<|DONE|>"\n')
    assert "wcmd ::= append | write\n" in log  # CREATE adds no content
    plan = build_gbnf(request("plan", min_commands=1))
    assert plan.startswith("root ::= reason? reads\n") and "ACTION" not in plan
    assert 'reads ::= cmd ("\\n" cmd){0,2}' in plan
    two = build_gbnf(request("plan", min_commands=2))
    assert 'reads ::= cmd ("\\n" cmd){1,2}' in two
    assert build_gbnf(request("log")) != log  # the floor is part of the cache key


def test_a_floor_that_cannot_be_met_is_an_error() -> None:
    with pytest.raises(GrammarError, match="max_tokens=64 leaves room for 0 commands"):
        build_gbnf(request("log", max_tokens=64, min_commands=1))
    with pytest.raises(GrammarError, match=r"no such command is allowed in this phase \(ACTION\)"):
        build_gbnf(request("plan", ops=("ACTION",), min_commands=1))
    with pytest.raises(GrammarError, match="at least 1 writes"):
        build_gbnf(request("log", ops=("READ", "CREATE", "DONE"), min_commands=1))


def test_grammars_are_cached_by_request_shape() -> None:
    first = request("plan")
    other_messages = first.model_copy(update={"messages": (Message(role="user", content="x"),)})
    assert build_gbnf(first) is build_gbnf(other_messages)
