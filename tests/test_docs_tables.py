"""Every markdown table in README.md and docs/ renders as one table.

A blank line, or any line not starting with `|`, between two rows ends the table: the rows after
it show as plain text full of pipes. So a row that does not follow another row must be a header,
followed by its `|---|` line.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


def broken_rows(text: str) -> list[int]:
    """Line numbers of table rows that start a table without being its header."""
    lines = [line.strip() for line in text.splitlines()]
    found, fenced = [], False
    for i, line in enumerate(lines):
        if line.startswith(("```", "~~~")):
            fenced = not fenced
        if fenced or not line.startswith("|"):
            continue
        starts = i == 0 or not lines[i - 1].startswith("|")
        if starts and not (i + 1 < len(lines) and SEPARATOR.match(lines[i + 1])):
            found.append(i + 1)
    return found


def test_broken_rows_finds_a_blank_line_inside_a_table() -> None:
    table = "| a | b |\n|---|---|\n| 1 | 2 |\n\n| 3 | 4 |\n"
    assert broken_rows(table) == [5]
    assert broken_rows(table.replace("\n\n", "\n")) == []
    assert broken_rows("```\n| not | a table |\n```\n") == []


def test_every_table_in_the_docs_is_unbroken() -> None:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found = [f"{f.relative_to(ROOT)}:{n}" for f in files
             for n in broken_rows(f.read_text(encoding="utf-8"))]
    assert not found, "a table row that is not a header follows a non-row line:\n" + "\n".join(found)
