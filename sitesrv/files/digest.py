"""A folder tree's files and their SHA-256: how a DP's package folder is compared with its source."""

from __future__ import annotations

import hashlib
from pathlib import Path


def tree_digest(folder: Path | str) -> dict[str, str]:
    """`relative/path -> SHA-256` of every file below `folder`: equal for two trees with the
    same files and bytes, and a failing comparison names the paths that differ. A folder that
    does not exist has no files."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
