"""Print the README's N-th set-up command (1: install and the main job, 2: the tests).

``.ci/run`` runs what this prints and ``tests/test_readme.py`` reads the same commands, so CI
runs the README's commands exactly as written. Standard library only: it runs before any
install.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Set-up: two commands"


def setup_commands(readme: Path = README) -> list[str]:
    """The ``bash`` blocks of the README's set-up section, in order."""
    text = readme.read_text(encoding="utf-8")
    if SECTION not in text:
        raise ValueError(f"{readme}: no section {SECTION!r}")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def main(argv: list[str]) -> int:
    commands = setup_commands()
    if len(argv) != 2 or not argv[1].isdigit() or not 1 <= int(argv[1]) <= len(commands):
        print(f"usage: readme_setup.py N (1..{len(commands)})", file=sys.stderr)
        return 2
    print(commands[int(argv[1]) - 1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
