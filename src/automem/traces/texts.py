"""Prompt text stored once: a prompt message as references into the trace's text table.

Most of what a model is shown repeats: the step's observation (its observation record holds
it already), the template's fixed wording, the memory-file listing, step after step. From
schema version 4 a system or user message is a ``prompt`` record whose ``parts`` are the ids
of text segments, one per line (its line break included), and ``"observation"`` for the
observation of the prompt's step as the templates show it (:meth:`Observation.render`).
Each distinct line is written once, in a ``text`` record before the first prompt that uses
it, so every prefix of a trace reads back. Replies (assistant messages) stay verbatim
``message`` records: they are the model's own words, searched and read one by one.

Readers never see the parts: :class:`TextResolver` turns each prompt record back into the
``message`` record it stands for, content verbatim.
"""

from __future__ import annotations

from pydantic import BaseModel

from automem.core import Observation
from automem.traces.schema import (
    OBSERVATION_PART,
    MessageRecord,
    ObservationRecord,
    Part,
    PromptRecord,
    TextRecord,
)


class TextTable:
    """The writer's side: the id of every line written so far (ids count up from 0)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def encode(self, content: str, observation: str) -> tuple[list[Part], list[str]]:
        """The parts of ``content`` and the lines it adds to the table (their ids follow on
        from :attr:`size` before the call). ``observation`` is the rendered observation of
        the prompt's step; its first occurrence becomes one part."""
        parts: list[Part] = []
        new: list[str] = []
        ids = self._ids
        head, found, tail = content.partition(observation) if observation else (content, "", "")
        for text, then in ((head, found), (tail, "")):
            for line in text.splitlines(keepends=True):
                line_id = ids.get(line)
                if line_id is None:
                    line_id = ids[line] = len(ids)
                    new.append(line)
                parts.append(line_id)
            if then:
                parts.append(OBSERVATION_PART)
        return parts, new

    @property
    def size(self) -> int:
        return len(self._ids)


class UnresolvedPrompt(ValueError):
    """A prompt record that refers to a text or an observation the trace did not hold before."""


class TextResolver:
    """The reader's side: fed a trace's records in order, it gives each prompt record back as
    the message record it stands for; every other record passes through unchanged."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._observation: tuple[int, str] | None = None  # (step, rendered text)

    def feed(self, record: BaseModel) -> BaseModel:
        if isinstance(record, TextRecord):
            if record.first != len(self.texts):
                raise UnresolvedPrompt(
                    f"text record of step {record.step} starts at id {record.first}, but "
                    f"{len(self.texts)} texts came before it"
                )
            self.texts.extend(record.texts)
        elif isinstance(record, ObservationRecord):
            rendered = Observation(record.text, record.short_term).render()
            self._observation = (record.step, rendered)
        elif isinstance(record, PromptRecord):
            return self.message(record)
        return record

    def message(self, record: PromptRecord) -> MessageRecord:
        return MessageRecord(
            id=record.id,
            step=record.step,
            phase=record.phase,
            role=record.role,
            content="".join(self._part(record, part) for part in record.parts),
        )

    def _part(self, record: PromptRecord, part: Part) -> str:
        if part == OBSERVATION_PART:
            if self._observation is None or self._observation[0] != record.step:
                raise UnresolvedPrompt(
                    f"prompt message {record.id} shows the observation of step {record.step}, "
                    "but no observation record of that step came before it"
                )
            return self._observation[1]
        if not 0 <= part < len(self.texts):  # type: ignore[operator]
            raise UnresolvedPrompt(
                f"prompt message {record.id} refers to text {part}, but the trace held "
                f"{len(self.texts)} texts before it"
            )
        return self.texts[part]  # type: ignore[index]
