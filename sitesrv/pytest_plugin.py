"""pytest plugin: fixtures that give users' own tests a fresh lab, as moto's give them AWS.

Installed with sitesrv (entry point `pytest11`). Override `sitesrv_hierarchy` in your
conftest.py to test against your own hierarchy.yaml.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab, default_hierarchy_file


@pytest.fixture
def sitesrv_hierarchy() -> Path:
    """The hierarchy file labs are built from; the packaged default unless overridden."""
    return default_hierarchy_file()


@pytest.fixture
def sitesrv_lab(tmp_path: Path, sitesrv_hierarchy: Path) -> Lab:
    """A freshly built lab in a temporary folder."""
    return Lab.init(tmp_path / "lab", sitesrv_hierarchy).lab
