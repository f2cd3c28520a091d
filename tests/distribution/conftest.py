"""Labs and helpers for the distribution tests: step mode, the default KB936465 hierarchy."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab
from tests.conftest import DEFAULT_HIERARCHY


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab.init(tmp_path / "lab", DEFAULT_HIERARCHY).lab


def make_source(folder: Path, files: dict[str, bytes] | None = None) -> Path:
    """A package source folder; by default a text file and a 200 KB binary in a sub-folder."""
    files = files or {"SETUP.INI": b"[Setup]\r\n",
                      "DATA/PAYLOAD.BIN": random.Random(1).randbytes(200_000)}
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def log_messages(lab: Lab, site: str, log: str) -> list[str]:
    """The message part of each line of a component log."""
    from sitesrv.logs.smslog import parse_line

    path = lab.site(site).log(log)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parsed = parse_line(line)
        assert parsed is not None, f"not an SMS log line: {line!r}"
        out.append(parsed.text)
    return out


def assert_in_order(messages: list[str], expected: list[str]) -> None:
    """Each expected message appears, in this order (other lines may come between)."""
    pos = 0
    for want in expected:
        for i in range(pos, len(messages)):
            if messages[i] == want:
                pos = i + 1
                break
        else:
            raise AssertionError(f"missing (in order): {want!r}\nlog:\n" + "\n".join(messages))
