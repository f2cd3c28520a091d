"""The look for a name that never follows a link (files/folders.py `lexists`): it answers as
`os.path` does."""

from __future__ import annotations

import os
from pathlib import Path

from sitesrv.files.folders import lexists


def test_a_name_is_there_as_os_path_says_a_link_too(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    for name in ("file", "dangling", "missing", "file/below", "nul\0name"):
        path = tmp_path / name if "\0" not in name else f"{tmp_path}/{name}"
        assert lexists(path) == os.path.lexists(path), name
    assert lexists(tmp_path / "dangling") and not lexists(tmp_path / "missing")
