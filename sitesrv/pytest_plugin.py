"""pytest plugin: fixtures that give users' own tests a fresh lab, as moto's give them AWS.

Installed with sitesrv (entry point `pytest11`), so every test can ask for:

- `sitesrv_lab`: a lab built in the test's temporary folder, at `<tmp_path>/lab`;
- `sitesrv_lab_factory`: a function that builds more labs there, each from the default
  hierarchy, YAML text, a hierarchy file or a dict;
- `sitesrv_hierarchy`: what both build from when not told otherwise. Override it in your
  conftest.py to test against your own hierarchy.yaml (return its path, YAML text or a dict).
- `sitesrv_stuck_lab`: a function that gives a lab stuck as a field report says
  (`sitesrv_stuck_lab("delta-stuck")`, `sitesrv scenario list` names them), at
  `<tmp_path>/<name>`; each story is played once per test session and restored from a snapshot
  for every test that asks, so a test starts from the stuck state in a fraction of a second.

`sitesrv.testing` has the helpers to drop files into a lab's inboxes and to read its logs,
events and site databases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab, default_hierarchy_file
from sitesrv.testing import (
    HierarchySource,
    LabFactory,
    StuckLabFactory,
    build_lab,
    restore,
    snapshot,
    stuck_lab,
)


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


@pytest.fixture(scope="session")
def _sitesrv_stuck_snapshots() -> dict[tuple[str, int, bool], Path]:
    """The snapshots of the stuck labs played in this session, by (scenario, seed, hotfix)."""
    return {}


@pytest.fixture
def sitesrv_stuck_lab(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                      _sitesrv_stuck_snapshots: dict[tuple[str, int, bool], Path],
                      ) -> StuckLabFactory:
    """Restores the lab stuck in scenario `name` (played once per session, with `seed` and
    `hotfix`) at `<tmp_path>/<into>` (default: the scenario's name; give `into` to have two in
    one test); see sitesrv.testing.stuck_lab."""

    def build(name: str, *, seed: int = 1, hotfix: bool = False, into: str = "") -> Lab:
        key = (name.lower(), seed, hotfix)
        if key not in _sitesrv_stuck_snapshots:
            played = tmp_path_factory.mktemp(f"stuck-{key[0]}-{seed}")
            lab = stuck_lab(key[0], played / "play", seed=seed, hotfix=hotfix)
            _sitesrv_stuck_snapshots[key] = snapshot(lab, played / "snapshot")
        return restore(_sitesrv_stuck_snapshots[key], tmp_path / (into or key[0]))

    return build
