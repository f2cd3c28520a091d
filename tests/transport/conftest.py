"""Labs for transport tests: the repository's hierarchy, or one written for the test."""

from __future__ import annotations

from pathlib import Path

from sitesrv.lab import Lab
from tests.conftest import DEFAULT_HIERARCHY


def make_lab(root: Path, hierarchy: str | None = None) -> Path:
    """Build a lab at `root` from `hierarchy` text, or from the repository's hierarchy.yaml."""
    source = DEFAULT_HIERARCHY
    if hierarchy is not None:
        source = root.parent / f"{root.name}-hierarchy.yaml"
        source.write_text(hierarchy, encoding="utf-8")
    Lab.init(root, source)
    return root
