"""A two-site lab for runtime tests: primary CEN and its secondary SEC, built by Lab.init."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
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


def make_lab(root: Path, timing: str = "") -> Path:
    """Build a lab at `root`; `timing` adds lines under `timing:` (indented by the caller)."""
    source = root.parent / f"{root.name}-hierarchy.yaml"
    source.write_text(HIERARCHY + timing, encoding="utf-8")
    Lab.init(root, source)
    return root


def inbox(lab: Path, site: str, folder: str) -> Path:
    return lab / site / "SMS" / "inboxes" / Path(*folder.split("\\"))


def drop(lab: Path, site: str, folder: str, name: str, data: bytes) -> Path:
    """Put a file into an inbox the way a well-behaved producer does: temp name, then rename."""
    target = inbox(lab, site, folder) / name
    tmp = target.with_name(f".{name}.test.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def tree(root: Path) -> dict[str, bytes]:
    """Every file below `root` with its bytes, for comparing two labs."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Poll until `condition()` holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.01)


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    return make_lab(tmp_path / "lab")
