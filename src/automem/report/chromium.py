"""How to drive Debian's Chromium headless on a machine with a closed network.

Used by the report's browser test and benchmark. Without the background-networking flags
Chromium keeps trying to reach Google's hosts; as root it needs --no-sandbox. Both also read
the trajectory viewer's memory panel back through :data:`MEMORY_PANEL_TEXT_JS`.
"""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
HEADLESS_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Page function: the text the memory panel shows for one file (None if not shown), without the
# struck-out deletions of the diff view.
MEMORY_PANEL_TEXT_JS = """(name) => {
  const pre = document.querySelector(`#memory-panel [data-file="${name}"] pre.file`);
  if (!pre) return null;
  const copy = pre.cloneNode(true);
  copy.querySelectorAll(".del").forEach((el) => el.remove());
  return copy.textContent;
}"""
