"""Every hierarchy.yaml mistake is caught with a message naming the file, the key and the fix."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitesrv.errors import UserError
from sitesrv.lab.hierarchy import SharePermissions
from sitesrv.lab.loader import HierarchyError, load_hierarchy, parse_hierarchy

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
    assert str(err) == ("lab/hierarchy.yaml: sites[1] (P01).parent: the parents form a cycle: "
                        "P01 -> P02 -> P01. Fix hierarchy.yaml and run the command again.")


def test_cycle_names_the_chain_in_order() -> None:
    err = error_for("sites:\n  - {code: ZZZ, server: A}\n  - {code: P03, server: D, parent: P01}\n"
                    "  - {code: P01, server: B, parent: P02}\n"
                    "  - {code: P02, server: C, parent: P00}\n"
                    "  - {code: P00, server: E, parent: P01}\n")
    assert_message(err, "sites[1] (P03).parent",
                   "the parents form a cycle: P03 -> P01 -> P02 -> P00 -> P01.")


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
        ("{days: [monkey], availability: closed}", "addresses[0].schedule[0].days",
         "list of days from mon, tue, wed, thu, fri, sat, sun (or monday ... sunday)"),
        ("{days: [tues], availability: closed}", "addresses[0].schedule[0].days",
         "got ['tues']"),
        ("{days: [1], availability: closed}", "addresses[0].schedule[0].days", "list of days"),
        ("{days: [], availability: closed}", "addresses[0].schedule[0].days", "list of days"),
    ],
)
def test_bad_schedule(block: str, key: str, fragment: str) -> None:
    err = error_for(BASE_SITES + f"addresses:\n  - {{from: ZZZ, to: P00, schedule: [{block}]}}\n")
    assert_message(err, key, fragment)


@pytest.mark.parametrize("rate", ["0", "-5", "fast", "1.5", "1000000000001", "1" + "0" * 400])
def test_bad_rate(rate: str) -> None:
    err = error_for(BASE_SITES + f"addresses:\n  - {{from: ZZZ, to: P00, rate_limit: {rate}}}\n")
    assert_message(err, "addresses[0].rate_limit", "positive number of bytes per second")


@pytest.mark.parametrize("latency", ["86401", "2d", ".inf", ".nan", "1e400", "1" + "0" * 400])
def test_bad_latency(latency: str) -> None:
    """A latency past a day (or no number at all) would overflow the Sender's arithmetic."""
    err = error_for(BASE_SITES + f"addresses:\n  - {{from: ZZZ, to: P00, latency: {latency}}}\n")
    assert_message(err, "addresses[0].latency")


@pytest.mark.parametrize("jitter", ["-0.1", "0.95", "lots", "true", "30%"])
def test_bad_jitter(jitter: str) -> None:
    err = error_for(BASE_SITES + f"addresses:\n  - {{from: ZZZ, to: P00, jitter: {jitter}}}\n")
    assert_message(err, "addresses[0].jitter", "fraction from 0 to 0.9")


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("sites: []\nadresses: []\n", "adresses", "did you mean 'addresses'?"),
        ("sites:\n  - {code: ZZZ, server: A, parnet: P00}\n", "sites[0] (ZZZ).parnet",
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


def test_work_costs_are_timing_keys() -> None:
    h = parse_hierarchy(BASE_SITES + "timing:\n  profile: lab\n  compress_rate: 1048576\n"
                        "  file_notice: 250ms\n  work_jitter: 0\n")
    assert (h.timing.compress_rate, h.timing.file_notice, h.timing.work_jitter) == (
        1048576, 0.25, 0)
    assert h.timing.dp_copy_rate == 16 * 1024 * 1024  # the profile's


@pytest.mark.parametrize(("line", "key", "problem"), [
    ("compress_rate: 0", "timing.compress_rate", "positive number of bytes per second"),
    ("network_rate: fast", "timing.network_rate", "positive number of bytes per second"),
    ("work_jitter: 1.5", "timing.work_jitter", "fraction from 0 to 0.9"),
    ("instruction_cost: -1", "timing.instruction_cost", "is negative"),
    ("compress_rate: .inf", "timing.compress_rate", "up to 1000000000000"),
    ("dp_copy_rate: .nan", "timing.dp_copy_rate", "positive number of bytes per second"),
    ("despooler_retry_delay: .inf", "timing.despooler_retry_delay", "longest duration"),
    ("distmgr_sleep: 36501d", "timing.distmgr_sleep", "longest duration"),
    ("distmgr_sleep: 1" + "0" * 400, "timing.distmgr_sleep", "longest duration"),
    ("sqlmon_poll_interval: .nan", "timing.sqlmon_poll_interval", "not a number of seconds"),
])
def test_bad_work_costs(line: str, key: str, problem: str) -> None:
    assert_message(error_for(BASE_SITES + f"timing:\n  {line}\n"), key, problem)


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
             "distribution_points", "share", "permissions", "hotfixes", "drive", "bogus"]),
            inner, max_size=5),
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


def test_days_are_short_or_full_names_in_any_case() -> None:
    h = parse_hierarchy(BASE_SITES + textwrap.dedent("""\
        addresses:
          - from: ZZZ
            to: P00
            schedule:
              - {days: [mon, Tuesday, SUN, saturday], availability: closed}
        """))
    assert h.addresses[0].schedule[0].days == frozenset({0, 1, 5, 6})


def test_file_that_is_not_utf8_is_a_hierarchy_error(tmp_path) -> None:
    bad = tmp_path / "hierarchy.yaml"
    bad.write_bytes(b"sites:\n  - {code: ZZZ, server: MGMT01, name: Z\xfcrich}\n")
    with pytest.raises(HierarchyError) as info:
        load_hierarchy(bad)
    assert str(info.value) == (
        f"{bad}: not UTF-8 text (byte 0xfc on line 2, at offset 46, cannot be decoded); "
        "save the file as UTF-8. Fix hierarchy.yaml and run the command again.")


@pytest.mark.parametrize(
    ("text", "key", "where"),
    [
        ("sites:\n  - {code: ZZZ, server: A, server: B}\n", "sites[0].server",
         "at line 2, column 17 and at line 2, column 28"),
        ("sites:\n  - {code: ZZZ, server: A}\nsender:\n  retries: 1\n  retries: 3\n",
         "sender.retries", "at line 4, column 3 and at line 5, column 3"),
        ("sites: []\nsites:\n  - {code: ZZZ, server: A}\n", "sites",
         "at line 1, column 1 and at line 2, column 1"),
        (BASE_SITES + "addresses:\n  - {from: ZZZ, to: P00, schedule: "
         "[{availability: open, availability: closed}]}\n",
         "addresses[0].schedule[0].availability", "line 7"),
    ],
)
def test_duplicate_keys_are_refused(text: str, key: str, where: str) -> None:
    name = key.rsplit(".", 1)[-1]
    assert_message(error_for(text), key, f"the key '{name}' is given twice in one mapping",
                   where, "remove one of them")


def test_merge_keys_may_still_override() -> None:
    h = parse_hierarchy(textwrap.dedent("""\
        sites:
          - &central {code: ZZZ, server: MGMT01, name: Central}
          - <<: *central
            code: P00
            server: MGMT03
            parent: ZZZ
        """))
    assert [(s.code, s.server, s.name) for s in h.sites] == [
        ("ZZZ", "MGMT01", "Central"), ("P00", "MGMT03", "Central")]


@pytest.mark.parametrize(
    ("section", "key", "fragment"),
    [
        ("timing: []", "timing", "expected a mapping of keys, got a list"),
        ("sender: 0", "sender", "expected a mapping of keys, got 0"),
        ("logs: false", "logs", "expected a mapping of keys, got false"),
        ("addresses: {}", "addresses", "expected a list, got a mapping"),
        ("software_distribution: ''", "software_distribution",
         "expected a mapping of keys, got ''"),
    ],
)
def test_empty_values_of_the_wrong_type_are_refused(section: str, key: str, fragment: str) -> None:
    assert_message(error_for(BASE_SITES + section + "\n"), key, fragment)


@pytest.mark.parametrize(
    ("site", "key", "fragment"),
    [
        ("{code: ZZZ, server: A, distribution_points: {}}", "sites[0] (ZZZ).distribution_points",
         "expected a list, got a mapping"),
        ("{code: ZZZ, server: A, hotfixes: ''}", "sites[0] (ZZZ).hotfixes",
         "expected a list, got ''"),
    ],
)
def test_empty_site_lists_of_the_wrong_type_are_refused(site: str, key: str,
                                                        fragment: str) -> None:
    assert_message(error_for(f"sites:\n  - {site}\n"), key, fragment)


def test_empty_sections_mean_the_defaults() -> None:
    h = parse_hierarchy(BASE_SITES + "timing:\nsender: ~\naddresses:\nsoftware_distribution:\n")
    assert h.addresses == ()
    assert h.sender.max_concurrent == 5 and h.timing_profile == "lab"


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ("{code: ZZZ, server: 'MGMT/01'}", "sites[0] (ZZZ).server"),
        ("{code: ZZZ, server: A, distribution_points: [{server: 'DP/01'}]}",
         "sites[0] (ZZZ).distribution_points[0].server"),
    ],
)
def test_site_and_dp_servers_share_one_rule(where: str, key: str) -> None:
    assert_message(error_for(f"sites:\n  - {where}\n"), key,
                   "is not a server name: at most 15 characters")


@pytest.mark.parametrize(
    ("where", "key", "shown"),
    [
        ("{code: ZZZ, server: 'MGMT\\01'}", "sites[0] (ZZZ).server", "'MGMT\\01' is not a server"),
        ("{code: ZZZ, server: A, distribution_points: [{server: B, share: 'smsapps\\..'}]}",
         "sites[0] (ZZZ).distribution_points[0].share", "'smsapps\\..' is not a share name"),
        ("{code: 'Z\\Z', server: A}", "sites[0].code", "'Z\\Z' is not a site code"),
        ("{code: ZZZ, server: A, drive: \"it's\"}", "sites[0] (ZZZ).drive",
         "'it''s' is not a drive letter"),
        ("{code: ZZZ, server: A, drive: \"E\\t\"}", "sites[0] (ZZZ).drive",
         "'E\\t' is not a drive letter"),
    ],
)
def test_a_value_is_shown_as_the_file_writes_it(where: str, key: str, shown: str) -> None:
    """One backslash shows as one (repr would double it), a quote doubled as YAML writes it,
    a tab as its escape."""
    assert_message(error_for(f"sites:\n  - {where}\n"), key, shown)


def test_attribute_changes_count() -> None:
    assert parse_hierarchy(BASE_SITES).software_distribution.attribute_changes_count is False
    h = parse_hierarchy(BASE_SITES + "software_distribution:\n  attribute_changes_count: true\n")
    assert h.software_distribution.attribute_changes_count is True
    from sitesrv.admin.hierarchyview import render_hierarchy

    assert ("Software distribution: send from nearest site on, 100 retries, DP update mode "
            "delete, attribute changes count (pre-KB872943)") in render_hierarchy(h).splitlines()
    assert "attribute changes" not in render_hierarchy(parse_hierarchy(BASE_SITES))
    err = error_for(BASE_SITES + "software_distribution:\n  attribute_changes_count: 'yes'\n")
    assert_message(err, "software_distribution.attribute_changes_count",
                   "expected true or false, got 'yes'")


def test_limits_default_to_2_gib_and_100000_files() -> None:
    limits = parse_hierarchy(BASE_SITES).limits
    assert (limits.package_size, limits.package_files) == (2 << 30, 100_000)
    assert parse_hierarchy(BASE_SITES + "limits:\n").limits == limits


@pytest.mark.parametrize(
    ("value", "size"),
    [("2GiB", 2 << 30), ("512 MiB", 512 << 20), ("100KiB", 102_400), ("3TiB", 3 << 40),
     ("1048576", 1 << 20), ("700 B", 700), (4096, 4096)],
)
def test_package_size_is_bytes_or_a_number_with_a_unit(value: object, size: int) -> None:
    text = BASE_SITES + f"limits: {{package_size: {value!r}, package_files: 7}}\n"
    limits = parse_hierarchy(text.replace("'", '"')).limits
    assert (limits.package_size, limits.package_files) == (size, 7)


@pytest.mark.parametrize(
    ("limits", "key", "fragment"),
    [
        ("{package_size: 2GB}", "limits.package_size",
         "expected a number of bytes, or one with a unit (B, KiB, MiB, GiB, TiB), such as 2GiB "
         "or 512 MiB; got '2GB'"),
        ("{package_size: 1.5}", "limits.package_size", "got 1.5"),
        ("{package_size: 0}", "limits.package_size", "expected at least 1 byte, got 0"),
        ("{package_size: true}", "limits.package_size", "got true"),
        ("{package_files: 0}", "limits.package_files", "at least 1, got 0"),
        ("{package_files: 250001}", "limits.package_files",
         "250001 is more than a PCK may list: at most 250000 (docs/limits.md)"),
        ("{package_file: 10}", "limits.package_file", "did you mean 'package_files'?"),
        ("[]", "limits", "expected a mapping of keys, got a list"),
    ],
)
def test_bad_limits_are_refused(limits: str, key: str, fragment: str) -> None:
    assert_message(error_for(BASE_SITES + f"limits: {limits}\n"), key, fragment)


def test_dp_permissions_are_full_unless_share_root_only() -> None:
    h = parse_hierarchy("sites:\n  - {code: ZZZ, server: A, distribution_points: "
                        "[{server: B}, {server: C, permissions: share-root-only}]}\n")
    assert [dp.permissions for dp in h.site("ZZZ").distribution_points] == [
        SharePermissions.FULL, SharePermissions.SHARE_ROOT_ONLY]


@pytest.mark.parametrize("value", ["root-only", "Full", "true", "[full]"])
def test_other_dp_permissions_are_refused(value: str) -> None:
    err = error_for("sites:\n  - {code: ZZZ, server: A, distribution_points: "
                    f"[{{server: B, permissions: {value}}}]}}\n")
    assert_message(err, "sites[0] (ZZZ).distribution_points[0].permissions",
                   "is not one of full, share-root-only")


@pytest.mark.parametrize(("key", "yaml"), [
    ("timing.sqlmon_poll_interval", "timing: {sqlmon_poll_interval: 0}"),
    ("timing.distmgr_sleep", "timing: {distmgr_sleep: 0s}"),
    ("timing.rescan_interval", "timing: {rescan_interval: 0}"),
    ("sender.retry_delay", "sender: {retry_delay: 0}"),
    ("software_distribution.retry_delay", "software_distribution: {retry_delay: 0m}"),
])
def test_a_delay_that_repeats_must_be_more_than_zero(key: str, yaml: str) -> None:
    """At 0, SQL Monitor polled at one lab instant for ever: a step run of an empty lab timed
    out with lab time never moving (a bug hunt found it)."""
    err = error_for(BASE_SITES + yaml + "\n")
    assert_message(err, key, "must be more than 0", "lab time would never move on")


def test_work_that_costs_no_lab_time_is_allowed() -> None:
    h = parse_hierarchy(textwrap.dedent(BASE_SITES) + "timing: {instruction_cost: 0, "
                        "file_notice: 0, replmgr_batch_hold: 0}\n")
    assert (h.timing.instruction_cost, h.timing.replmgr_batch_hold) == (0, 0)


@pytest.mark.parametrize(("value", "shown"), [
    ("0123", "83"),  # YAML 1.1 reads a leading 0 as octal
    ("0777", "511"),
    ("123", "123"),
    ("OFF", "false"),
    ("ON", "true"),
    ("1.5", "1.5"),
])
def test_text_that_yaml_reads_as_a_number_or_a_truth_value_must_be_quoted(
        value: str, shown: str) -> None:
    """`server: 0123` became server 83, silently (a bug hunt found it)."""
    err = error_for(f"sites:\n  - {{code: ZZZ, server: {value}}}\n")
    assert_message(err, "sites[0] (ZZZ).server", f"expected text, got {shown}",
                   "write the text in quotes")
    assert parse_hierarchy(f"sites:\n  - {{code: ZZZ, server: '{value}'}}\n").site(
        "ZZZ").server == value.upper()


@pytest.mark.parametrize(("text", "key", "problem"), [
    ("sites:\n", "sites", "this key is required and has no value"),
    ("sender: {}\n", "sites", "this key is required"),
    ("sites:\n  - {code: ZZZ, server: A}\ndurability:\n", "durability",
     "nothing (an empty value) is not one of none, file, file+dir"),
    ("sites:\n  - {code: ZZZ, server: A}\ntiming: {profile: ~}\n", "timing.profile",
     "nothing (an empty value) is not one of"),
    ("sites:\n  - {code: ZZZ, server: A, type: true}\n", "sites[0] (ZZZ).type",
     "true is not one of primary, secondary"),
])
def test_values_are_shown_as_yaml_spells_them(text: str, key: str, problem: str) -> None:
    """A bug hunt found `None is not one of ...`, `got True` and a key path `.sites`."""
    assert_message(error_for(text), key, problem)
