"""pytest plugin: fixtures that give users' own tests a fresh lab, as moto's give them AWS.

Installed with sitesrv (entry point `pytest11`), so every test can ask for:

- `sitesrv_lab`: a lab built in the test's temporary folder, at `<tmp_path>/lab`;
- `sitesrv_lab_factory`: a function that builds more labs there, each from the default
  hierarchy, YAML text, a hierarchy file or a dict;
- `sitesrv_hierarchy`: what both build from when not told otherwise. Override it in your
  conftest.py to test against your own hierarchy.yaml (return its path, YAML text or a dict).

`sitesrv.testing` has the helpers to drop files into a lab's inboxes and to read its logs,
events and site databases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab, default_hierarchy_file
from sitesrv.testing import HierarchySource, LabFactory, build_lab


@pytest.fixture
def sitesrv_hierarchy() -> HierarchySource:
    """The hierarchy labs are built from: the packaged default unless overridden."""
    return default_hierarchy_file()


@pytest.fixture
def sitesrv_lab_factory(tmp_path: Path, sitesrv_hierarchy: HierarchySource) -> LabFactory:
    """Builds a new lab at `<tmp_path>/<name>` (name "lab" unless given) from `hierarchy`: a
    path, YAML text or a dict, or, if None, `sitesrv_hierarchy`'s. A name already used in this
    test is refused (FileExistsError): each call makes a new lab."""

    def build(hierarchy: HierarchySource = None, *, name: str = "lab") -> Lab:
        return build_lab(tmp_path / name, sitesrv_hierarchy if hierarchy is None else hierarchy)

    return build


@pytest.fixture
def sitesrv_lab(sitesrv_lab_factory: LabFactory) -> Lab:
    """A freshly built lab at `<tmp_path>/lab`, from `sitesrv_hierarchy`."""
    return sitesrv_lab_factory()
