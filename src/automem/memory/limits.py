"""Caps that keep the memory bounded, so a runaway model cannot flood its own context or disk.

The per-reply and per-turn caps bound what one model reply can make the agent do: a reply of
60,000 commands runs the first few dozen, not 60,000, and says how many it dropped.
"""

from __future__ import annotations

from pydantic import Field

from automem.core import Frozen


class MemoryLimits(Frozen):
    max_file_bytes: int = Field(65536, ge=1, description="Largest size of one memory file.")
    max_files: int = Field(32, ge=1, description="Most memory files at once.")
    max_name_chars: int = Field(64, ge=1, description="Longest memory file name.")
    max_result_chars: int = Field(
        4000, ge=1, description="Longest result of one command; longer ones are cut with a marker."
    )
    search_max_results: int = Field(10, ge=1, description="Matching lines SEARCH shows.")
    tail_max_lines: int = Field(50, ge=1, description="Largest N of TAIL.")
    map_file: str = Field("dungeon_map", description="The file UPSERT_MAP edits.")
    max_reply_chars: int = Field(
        50_000,
        ge=1,
        description="Characters of one model reply the agent reads (records and parses); the "
        "rest is cut off, and the model is told.",
    )
    max_commands_per_reply: int = Field(
        32,
        ge=1,
        description="Commands run from one model reply, in the order written; the rest are not "
        "run, and the model is told how many were dropped.",
    )
    max_result_chars_per_turn: int = Field(
        20_000,
        ge=1,
        description="Characters of command results shown to the model after one reply; results "
        "past this budget are cut, or withheld, with a marker.",
    )
