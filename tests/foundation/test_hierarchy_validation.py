"""Every hierarchy.yaml mistake is caught with a message naming the file, the key and the fix."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitesrv.errors import UserError
from sitesrv.hierarchy import HierarchyError, load_hierarchy, parse_hierarchy

BASE_SITES = """
sites:
  - {code: ZZZ, server: MGMT01}
  - {code: P00, server: MGMT03, parent: ZZZ}
  - {code: S01, server: SEC01, parent: P00, type: secondary}
"""


def error_for(text: str) -> HierarchyError:
    with pytest.raises(HierarchyError) as info:
        parse_hierarchy(textwrap.dedent(text), "lab/hierarchy.yaml")
    return info.value


def assert_message(err: HierarchyError, key: str, *fragments: str) -> None:
    text = str(err)
    assert text.startswith(f"lab/hierarchy.yaml: {key}: "), text
    for fragment in fragments:
        assert fragment in text, text
    assert text.endswith("Fix hierarchy.yaml and run the command again.")


def test_default_hierarchy_is_the_kb936465_shape(default_hierarchy_text: str) -> None:
    h = parse_hierarchy(default_hierarchy_text)
    assert [(s.code, s.server, s.type, s.parent) for s in h.sites] == [
        ("ZZZ", "MGMT01", "primary", None),
        ("P00", "MGMT03", "primary", "ZZZ"),
        ("S01", "SEC01", "secondary", "P00"),
    ]
    assert [dp.server for dp in h.site("P00").distribution_points] == ["REMOTE_DP"]
    assert [dp.server for dp in h.site("S01").distribution_points] == ["SEC01"]
    assert h.software_distribution.send_from_nearest_site is True
    pairs = {(a.from_site, a.to_site, a.type) for a in h.addresses}
    assert pairs == {("ZZZ", "P00", "LAN"), ("P00", "ZZZ", "LAN"),
                     ("P00", "S01", "LAN"), ("S01", "P00", "LAN")}


@pytest.mark.parametrize("code", ["P0", "P001", "p01", "P-1", "12"])
def test_site_code_must_be_three_letters_or_digits(code: str) -> None:
    err = error_for(f"sites:\n  - {{code: '{code}', server: MGMT01}}\n")
    assert_message(err, "sites[0].code", f"'{code}' is not a site code", "exactly 3")


def test_duplicate_site_code() -> None:
    err = error_for("sites:\n  - {code: ZZZ, server: A}\n  - {code: ZZZ, server: B, parent: ZZZ}\n")
    assert_message(err, "sites[1].code", "site code ZZZ is used twice", "sites[0]")


def test_duplicate_server() -> None:
    err = error_for("sites:\n  - {code: ZZZ, server: MGMT01}\n"
                    "  - {code: P00, server: mgmt01, parent: ZZZ}\n")
    assert_message(err, "sites[1] (P00).server", "server MGMT01 already belongs to site ZZZ")


def test_unknown_parent() -> None:
    err = error_for("sites:\n  - {code: ZZZ, server: A}\n  - {code: P00, server: B, parent: P01}\n")
    assert_message(err, "sites[1] (P00).parent", "unknown site 'P01'", "ZZZ, P00")


def test_cycle() -> None:
    err = error_for("sites:\n  - {code: ZZZ, server: A}\n  - {code: P01, server: B, parent: P02}\n"
                    "  - {code: P02, server: C, parent: P01}\n")
    assert_message(err, "sites[1] (P01).parent", "the parents form a cycle")


def test_secondary_with_children() -> None:
    err = error_for(BASE_SITES + "  - {code: P02, server: X, parent: S01}\n")
    assert_message(err, "sites[3] (P02).parent", "S01 is a secondary site and cannot have "
                   "child sites")


def test_secondary_whose_parent_is_not_a_primary() -> None:
    err = error_for(BASE_SITES + "  - {code: S02, server: X, parent: S01, type: secondary}\n")
    assert_message(err, "sites[3] (S02).parent", "a secondary's parent must be a primary site")


def test_more_than_one_site_without_parent() -> None:
    err = error_for("sites:\n  - {code: ZZZ, server: A}\n  - {code: YYY, server: B}\n")
    assert_message(err, "sites", "more than one site has no parent (ZZZ, YYY)")


def test_central_site_must_be_primary() -> None:
    err = error_for("sites:\n  - {code: ZZZ, server: A, type: secondary}\n")
    assert_message(err, "sites[0] (ZZZ).type", "must be a primary site")


@pytest.mark.parametrize("end", ["from", "to"])
def test_address_to_or_from_unknown_site(end: str) -> None:
    ends = {"from": "ZZZ", "to": "P00", end: "Q99"}
    err = error_for(BASE_SITES + f"addresses:\n  - {{from: {ends['from']}, to: {ends['to']}}}\n")
    assert_message(err, f"addresses[0].{end}", "unknown site 'Q99'")


@pytest.mark.parametrize(
    ("block", "key", "fragment"),
    [
        ("{hours: '08:00-18:00'}", "addresses[0].schedule[0].availability", "required"),
        ("{hours: '8-18', availability: open}", "addresses[0].schedule[0].hours", "HH:MM-HH:MM"),
        ("{hours: '18:00-08:00', availability: open}", "addresses[0].schedule[0].hours",
         "start before end"),
        ("{hours: '08:00-18:00', availability: sometimes}",
         "addresses[0].schedule[0].availability", "'sometimes' is not one of open, "
         "medium_and_high, high_only, closed"),
        ("{days: [mon, funday], availability: closed}", "addresses[0].schedule[0].days",
         "list of days"),
    ],
)
def test_bad_schedule(block: str, key: str, fragment: str) -> None:
    err = error_for(BASE_SITES + f"addresses:\n  - {{from: ZZZ, to: P00, schedule: [{block}]}}\n")
    assert_message(err, key, fragment)


@pytest.mark.parametrize("rate", ["0", "-5", "fast", "1.5"])
def test_bad_rate(rate: str) -> None:
    err = error_for(BASE_SITES + f"addresses:\n  - {{from: ZZZ, to: P00, rate_limit: {rate}}}\n")
    assert_message(err, "addresses[0].rate_limit", "positive number of bytes per second")


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("sites: []\nadresses: []\n", "adresses", "did you mean 'addresses'?"),
        ("sites:\n  - {code: ZZZ, server: A, parnet: P00}\n", "sites[0].parnet",
         "did you mean 'parent'?"),
        ("sites:\n  - {code: ZZZ, server: A, distribution_points: [{server: B, shares: X}]}\n",
         "sites[0] (ZZZ).distribution_points[0].shares", "did you mean 'share'?"),
        (BASE_SITES + "addresses:\n  - {from: ZZZ, to: P00, prority: 2}\n",
         "addresses[0].prority", "did you mean 'priority'?"),
        (BASE_SITES + "timing:\n  profile: lab\n  despooler_retry: 5\n",
         "timing.despooler_retry", "did you mean 'despooler_retry_delay'?"),
    ],
)
def test_unknown_keys_are_refused(text: str, key: str, hint: str) -> None:
    assert_message(error_for(text), key, "unknown key", hint)


def test_shared_address_priority_is_refused() -> None:
    err = error_for(BASE_SITES + "addresses:\n  - {from: ZZZ, to: P00}\n  - {from: ZZZ, to: P00}\n")
    assert_message(err, "addresses[1].priority", "priority numbers cannot be shared")


def test_bad_yaml_names_line() -> None:
    err = error_for("sites: [\n")
    assert "not valid YAML at line" in str(err)


def test_missing_file_is_a_user_error(tmp_path) -> None:
    with pytest.raises(UserError, match="no such hierarchy file"):
        load_hierarchy(tmp_path / "nope.yaml")


def test_timing_overrides_and_profiles() -> None:
    h = parse_hierarchy(BASE_SITES + "timing:\n  profile: sms2003\n  despooler_retry_delay: 2m\n"
                        "sender:\n  retry_delay: 90s\n")
    assert h.timing.distmgr_retry_interval == 3600
    assert h.timing.despooler_retry_delay == 120
    assert h.timing.sender_retry_delay == 90
    assert h.timing.sender_busy_hold == 3600


def test_schedule_availability_by_priority() -> None:
    h = parse_hierarchy(BASE_SITES + textwrap.dedent("""\
        addresses:
          - from: ZZZ
            to: P00
            schedule:
              - {days: [mon, tue, wed, thu, fri], hours: '08:00-18:00', availability: high_only}
              - {days: all, hours: '12:00-13:00', availability: closed}
        """))
    a = h.addresses[0]
    monday_9 = (0, 9 * 60)
    assert a.allows(1, *monday_9) and not a.allows(2, *monday_9)
    assert not a.allows(1, 0, 12 * 60 + 30)  # the later block wins
    assert a.allows(3, 5, 9 * 60)  # Saturday: open, the default
    assert a.availability(0, 7 * 60) == "open"


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 2000), st.text(max_size=8),
                         st.sampled_from(["ZZZ", "P00", "primary", "secondary", "LAN", "open"]))
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(
            ["sites", "addresses", "code", "server", "parent", "type", "from", "to",
             "schedule", "rate_limit", "hours", "days", "availability", "timing", "profile",
             "distribution_points", "share", "hotfixes", "drive", "bogus"]), inner, max_size=5),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(yaml_values)
def test_any_document_gives_a_hierarchy_or_a_clear_error(doc: object) -> None:
    import yaml

    text = yaml.safe_dump(doc)
    try:
        parse_hierarchy(text)
    except HierarchyError as e:
        assert str(e).startswith("hierarchy.yaml: ")
