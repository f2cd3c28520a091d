"""Paths as text (files/pathtext.py) and the look for a name that never follows a link
(files/folders.py `lexists`): each answers as `os.path` does, for any spelling."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesrv.files import pathtext
from sitesrv.files.folders import lexists

# Pieces of a path that `os.path` spells in its own ways: doubled, leading and trailing
# separators, dot parts, names alone.
PIECES = st.sampled_from(["", "/", "//", "a", "b.c", ".", "..", "x/", "/y", "a b", "\\", "é"])
TEXTS = st.lists(PIECES, max_size=5).map("".join)


@pytest.mark.skipif(os.sep != "/", reason="the hand-made case is POSIX's; Windows asks os.path")
@given(TEXTS, TEXTS)
def test_joined_and_split_as_os_path_does(folder: str, name: str) -> None:
    assert pathtext.join(folder, name) == posixpath.join(folder, name)
    assert pathtext.split(folder + name) == posixpath.split(folder + name)


def test_a_name_is_there_as_os_path_says_a_link_too(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    for name in ("file", "dangling", "missing", "file/below", "nul\0name"):
        path = tmp_path / name if "\0" not in name else f"{tmp_path}/{name}"
        assert lexists(path) == os.path.lexists(path), name
    assert lexists(tmp_path / "dangling") and not lexists(tmp_path / "missing")
