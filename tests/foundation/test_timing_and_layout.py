"""Durations in hierarchy.yaml, and the Windows spelling of lab paths in log text."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sitesrv.lab.layout import LabLayout
from sitesrv.lab.loader import parse_hierarchy
from sitesrv.lab.timing import parse_duration
from tests.conftest import DEFAULT_HIERARCHY


@pytest.mark.parametrize(("text", "seconds"), [
    (30, 30.0), (1.5, 1.5), ("30s", 30.0), ("5m", 300.0), ("5 min", 300.0), ("1h", 3600.0),
    ("7d", 604800.0), ("250ms", 0.25),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-1s", -1, True, None, "1 week", float("inf"),
                                 float("nan"), "36501d", 1e300, 10**400, "1" + "0" * 400])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@given(st.integers(0, 36_500), st.sampled_from(["s", "m", "h", "d"]))
def test_duration_strings_scale_by_unit(n: int, unit: str) -> None:
    assert parse_duration(f"{n}{unit}") == n * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


@given(st.text(max_size=12))
def test_duration_parser_only_raises_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_duration(text)


def test_windows_and_unc_spellings(default_hierarchy_text: str) -> None:
    lab = LabLayout(Path("/labs/lab"), parse_hierarchy(default_hierarchy_text))
    p00, zzz = lab.site("P00"), lab.site("ZZZ")
    dp = p00.site.distribution_points[0]
    assert p00.windows(p00.inbox("distmgr.box\\INCOMING") / "Z3AWAX9I.PKG") == (
        "E:\\SMS\\inboxes\\distmgr.box\\INCOMING\\Z3AWAX9I.PKG")
    assert p00.windows(p00.smspkg / "ZZZ00148.PCK") == "F:\\SMSPKG\\ZZZ00148.PCK"
    assert p00.windows(p00.root / "_S Mt0ir.TMP") == "F:\\_S Mt0ir.TMP"
    assert p00.windows(p00.dp_package(dp, "ZZZ00148")) == "\\\\REMOTE_DP\\smsapps\\SMSPKG\\ZZZ00148"
    assert p00.unc(p00.receive / "2_4O7PRI.PCK") == "\\\\MGMT03\\SMS_SITE\\2_4O7PRI.PCK"
    assert zzz.unc(zzz.smspkg / "ZZZ00148.PCK") == "\\\\MGMT01\\SMS_CPSF$\\ZZZ00148.PCK"
    assert zzz.unc(zzz.inbox("schedule.box/outboxes/LAN")) == (
        "\\\\MGMT01\\SMS_ZZZ\\inboxes\\schedule.box\\outboxes\\LAN")
    assert dp.nal_path("P00") == 'MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\SMSPKG\\'


def test_paths_at_or_outside_a_site_root(default_hierarchy_text: str) -> None:
    lab = LabLayout(Path("/labs/lab"), parse_hierarchy(default_hierarchy_text))
    p00 = lab.site("P00")
    assert p00.windows(p00.root) == "F:\\"
    assert p00.unc(p00.root) == "\\\\MGMT03\\F$"
    assert p00.windows(f"{p00.root}/SMS/./inboxes//x.PKN") == "E:\\SMS\\inboxes\\x.PKN"
    for outside in (lab.site("ZZZ").sms / "x", Path("/labs/lab/P000/SMS"), Path("SMS/x")):
        with pytest.raises(ValueError):
            p00.windows(outside)
        with pytest.raises(ValueError):
            p00.unc(outside)


def test_windows_paths_resolve_back_to_lab_paths(default_hierarchy_text: str) -> None:
    lab = LabLayout(Path("/labs/lab"), parse_hierarchy(default_hierarchy_text))
    p00, zzz = lab.site("P00"), lab.site("ZZZ")
    dp = p00.site.distribution_points[0]
    samples = [
        (p00, p00.inbox("distmgr.box/INCOMING") / "Z3AWAX9I.PKG"),
        (p00, p00.smspkg / "ZZZ00148.PCK"),
        (p00, p00.root / "_S Mt0ir.TMP"),
        (p00, p00.dp_package(dp, "ZZZ00148") / "FlashPlayer.exe"),
        (zzz, zzz.inbox("schedule.box/tosend") / "00000001.IPT"),
    ]
    for site, path in samples:
        assert lab.resolve(site.windows(path), at=site.site.code) == path
        assert lab.resolve(site.unc(path)) == path
    assert lab.resolve("\\\\mgmt03\\sms_site\\2_001ZZZ.SNI") == p00.receive / "2_001ZZZ.SNI"


@pytest.mark.parametrize("bad", ["\\\\NOSUCH\\SMS_SITE\\x", "\\\\MGMT03", "Q:\\SMS\\x"])
def test_unresolvable_paths_are_user_errors(default_hierarchy_text: str, bad: str) -> None:
    from sitesrv.errors import UserError

    lab = LabLayout(Path("/labs/lab"), parse_hierarchy(default_hierarchy_text))
    with pytest.raises(UserError):
        lab.resolve(bad, at="P00")


# Parts below a site root that the spelling rules tell apart, and names no Windows one holds.
SPELT_PARTS = st.sampled_from(["SMS", "inboxes", "despoolr.box", "receive", "SMSPKG", "dp",
                               "REMOTE_DP", "smsapps", "CAP_P00", "x.PKG", ".", "", "a:b",
                               "n\udcffo"])
HIERARCHY = parse_hierarchy(DEFAULT_HIERARCHY.read_text(encoding="utf-8"))


@given(st.lists(SPELT_PARTS, max_size=6))
@example([])
@example(["x.PKG"])
@example(["dp", "REMOTE_DP"])
@example(["SMS", "inboxes", "despoolr.box", "receive"])
def test_a_name_is_spelt_as_its_folder_and_the_name(parts: list[str]) -> None:
    """Spellings are remembered by folder: a path reads the same as when it is spelt whole,
    whatever was spelt before it in the folder (the site root, a DP server's folder, the
    folder above the receive folder and the receive folder itself included)."""
    text = "/".join(["/labs/lab/P00", *parts])
    warm = LabLayout(Path("/labs/lab"), HIERARCHY).site("P00")
    for spell in (warm.windows, warm.unc):
        with contextlib.suppress(ValueError):  # the folder above the site root is outside
            spell(f"{text.rpartition('/')[0]}/warm")  # its folder's spelling remembered first
    cold = LabLayout(Path("/labs/lab"), HIERARCHY).site("P00")
    whole = cold._parts(text, shown=True)
    assert warm.windows(text) == cold._windows_of(whole)
    assert warm.unc(text) == cold._unc_of(whole)
