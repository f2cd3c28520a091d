"""A hierarchy.yaml whose names would become folders outside the places they belong.

A DP's server name is a folder of the lab (`<SITE>\\dp\\<SERVER>\\<SHARE>`): a server named
`..` or `.` would put the share into the site's own folder, or above it. `sitesrv init`
refuses such a hierarchy as it refuses every mistake: exit status 2 and one paragraph saying
what to fix, no traceback, and no lab built.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.admin.lab import default_hierarchy_file
from sitesrv.cli.main import cli


def _hierarchy_with_remote_dp_named(server: str) -> str:
    text = default_hierarchy_file().read_text(encoding="utf-8")
    assert "- server: REMOTE_DP" in text
    return text.replace("- server: REMOTE_DP", f"- server: '{server}'")


@pytest.mark.parametrize("server", ["..", ".", "..."])
def test_init_refuses_a_distribution_point_whose_server_is_dots(tmp_path: Path,
                                                                 server: str) -> None:
    """P00's REMOTE_DP renamed `..`: its share would be built at `P00\\smsapps\\SMSPKG`."""
    hierarchy = tmp_path / "hierarchy.yaml"
    hierarchy.write_text(_hierarchy_with_remote_dp_named(server), encoding="utf-8")
    lab = tmp_path / "lab"

    result = CliRunner().invoke(cli, ["init", "--lab", str(lab), "--hierarchy", str(hierarchy)])

    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("sitesrv: "), message
    assert "Traceback" not in message
    assert "\n\n" not in message, f"more than one paragraph: {message!r}"
    assert "server" in message.lower(), message
    assert not (lab / "P00").exists(), "the lab was built all the same"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "lab") == ["hierarchy.yaml"]
