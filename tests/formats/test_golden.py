"""The exact bytes we write: a change to an on-disk format must show up as a diff here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.formats.examples import EXAMPLES


@pytest.mark.parametrize("kind", EXAMPLES)
def test_the_writer_produces_the_golden_bytes(kind: str) -> None:
    module, record, text = EXAMPLES[kind]
    assert module.encode(record) == text.encode("utf-8")
    assert module.parse(text, f"golden.{kind}") == record


@pytest.mark.parametrize("kind", EXAMPLES)
def test_a_written_file_reads_back(kind: str, tmp_path: Path) -> None:
    module, record, _ = EXAMPLES[kind]
    path = tmp_path / f"example.{kind}"
    path.write_bytes(module.encode(record))
    assert module.read(path) == record


@pytest.mark.parametrize("kind", EXAMPLES)
def test_the_documented_example_is_the_golden_file(kind: str) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "formats.md").read_text(encoding="utf-8")
    assert f"```\n{EXAMPLES[kind][2]}```" in docs
