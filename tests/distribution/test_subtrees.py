"""The sites below a site, as Distribution Manager and Status Manager ask for them."""

from __future__ import annotations

import attrs

from sitesrv.components.distmgr.pkgsend import subtree
from sitesrv.lab.loader import load_hierarchy
from tests.conftest import DEFAULT_HIERARCHY


def test_a_subtree_is_worked_out_for_the_hierarchy_asked_about() -> None:
    """Remembered for one hierarchy: another one (a lab loaded again, a site moved) is asked
    anew, and the first one's answers are not taken for its own."""
    hierarchy = load_hierarchy(DEFAULT_HIERARCHY)
    assert subtree(hierarchy, "ZZZ") == {"ZZZ", "P00", "S01"}
    assert subtree(hierarchy, "P00") == {"P00", "S01"}
    # S01 moved up, under the central site: P00 has no site below it now.
    moved = attrs.evolve(hierarchy, sites=tuple(
        attrs.evolve(s, parent="ZZZ") if s.code == "S01" else s for s in hierarchy.sites))
    assert subtree(moved, "P00") == {"P00"}
    assert subtree(moved, "ZZZ") == {"ZZZ", "P00", "S01"}
    assert subtree(hierarchy, "P00") == {"P00", "S01"}
