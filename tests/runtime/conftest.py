"""A two-site lab for runtime tests: primary CEN and its secondary SEC.

The plugin builds it: this folder's `sitesrv_hierarchy` is the two-site text, so `sitesrv_lab`
and `sitesrv_lab_factory()` build it, and `lab` is that lab's folder (the drivers take one).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab

HIERARCHY = """\
sites:
  - {code: CEN, name: Central, server: CENSRV, type: primary, drive: E, package_drive: F}
  - {code: SEC, name: Secondary, server: SECSRV, type: secondary, parent: CEN, drive: E}
timing:
  profile: lab
"""


def two_sites(timing: str = "") -> str:
    """The two-site hierarchy; `timing` adds lines under `timing:` (indented by the caller)."""
    return HIERARCHY + timing


@pytest.fixture
def sitesrv_hierarchy() -> str:
    return HIERARCHY


@pytest.fixture
def lab(sitesrv_lab: Lab) -> Path:
    return sitesrv_lab.root
