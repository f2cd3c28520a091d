"""Package IDs (site code + 5 upper-case hex digits, in sequence per site) and stored times."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesrv.db.sitedb import (
    SiteDatabase,
    format_package_id,
    format_time,
    parse_package_id,
    parse_time,
)
from sitesrv.errors import UserError

SITE_CODES = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=3, max_size=3
)
NUMBERS = st.integers(0, 0xFFFFF)


def test_ids_run_in_hex_per_site(db: SiteDatabase) -> None:
    ids = [db.next_package_id("ZZZ") for _ in range(17)]
    assert ids[:3] == ["ZZZ00001", "ZZZ00002", "ZZZ00003"]
    assert ids[8:10] == ["ZZZ00009", "ZZZ0000A"]
    assert ids[14:17] == ["ZZZ0000F", "ZZZ00010", "ZZZ00011"]
    assert db.next_package_id("P00") == "P0000001"
    assert db.next_package_id("zzz") == "ZZZ00012"


def test_the_counter_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "site.db"
    with SiteDatabase.create(path) as db:
        assert db.next_package_id("CEN") == "CEN00001"
    with SiteDatabase.open(path) as db:
        assert db.next_package_id("CEN") == "CEN00002"


def test_the_last_number_is_fffff(db: SiteDatabase) -> None:
    db.execute_user_sql("INSERT INTO PackageIDCounters VALUES ('ZZZ', 1048574)")
    assert db.next_package_id("ZZZ") == "ZZZFFFFF"
    with pytest.raises(UserError, match="Site ZZZ has no package numbers left: ZZZFFFFF"):
        db.next_package_id("ZZZ")


@pytest.mark.parametrize("bad", ["ZZZ0000G", "ZZZ0001", "ZZZ000001", "Z-Z00001", ""])
def test_malformed_package_ids_are_named(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a package ID"):
        parse_package_id(bad)


@given(SITE_CODES, NUMBERS)
def test_package_id_format_then_parse(site: str, number: int) -> None:
    package_id = format_package_id(site, number)
    assert len(package_id) == 8 and package_id == package_id.upper()
    assert parse_package_id(package_id) == (site.upper(), number)
    assert parse_package_id(package_id.lower()) == (site.upper(), number)


@given(st.from_regex(r"[A-Za-z0-9]{3}[0-9A-Fa-f]{5}", fullmatch=True))
def test_package_id_parse_then_format(text: str) -> None:
    assert format_package_id(*parse_package_id(text)) == text.upper()


@given(st.text(max_size=12))
def test_package_id_parser_only_raises_value_error(text: str) -> None:
    try:
        site, number = parse_package_id(text)
    except ValueError:
        return
    assert format_package_id(site, number) == text.upper()


def test_time_format_is_sql_servers_canonical_utc() -> None:
    assert format_time(1181034000.5) == "2007-06-05 09:00:00.500"
    assert parse_time("2007-06-05 09:00:00") == 1181034000.0
    assert parse_time("2007-06-05T11:00:00+02:00") == 1181034000.0
    with pytest.raises(ValueError, match="is not a time in the form YYYY-MM-DD HH:MM:SS.mmm"):
        parse_time("06/05/2007")


TIMES = st.floats(0, datetime(9999, 12, 31, tzinfo=UTC).timestamp())


@given(TIMES)
def test_time_format_then_parse_keeps_milliseconds(when: float) -> None:
    assert parse_time(format_time(when)) == round(when * 1000) / 1000


@given(st.datetimes(datetime(1970, 1, 1), datetime(9999, 12, 31)))
def test_time_parse_then_format(moment: datetime) -> None:
    text = moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    assert format_time(parse_time(text)) == text
