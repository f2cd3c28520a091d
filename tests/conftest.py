"""Shared fixtures: the default hierarchy text and a built lab."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_HIERARCHY = REPO / "hierarchy.yaml"


@pytest.fixture
def default_hierarchy_text() -> str:
    return DEFAULT_HIERARCHY.read_text(encoding="utf-8")
