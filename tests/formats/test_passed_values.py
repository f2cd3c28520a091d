"""A rule remembers the short texts and whole numbers it passed (`Check` in
sitesrv/formats/values.py): a value it refuses, or one of another type that compares equal to
one it passed, is still judged by the rule."""

from __future__ import annotations

import attrs
import pytest

from sitesrv.formats import srq
from sitesrv.formats.values import PRIORITY, SITE_CODE, AddressType, pattern

PRIORITY_FIELD = attrs.fields(srq.SendRequest).priority
SITE_FIELD = attrs.fields(srq.SendRequest).dest_site


def test_a_bool_equal_to_a_passed_number_is_still_refused() -> None:
    PRIORITY(None, PRIORITY_FIELD, 1)
    PRIORITY(None, PRIORITY_FIELD, 1)
    with pytest.raises(TypeError, match="priority=True: must be a whole number"):
        PRIORITY(None, PRIORITY_FIELD, True)


def test_a_refused_text_stays_refused() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="dest_site='zzz': not a site code"):
            SITE_CODE(None, SITE_FIELD, "zzz")
    SITE_CODE(None, SITE_FIELD, "ZZZ")
    with pytest.raises(ValueError, match="dest_site='ZZZ ': must not start or end"):
        SITE_CODE(None, SITE_FIELD, "ZZZ ")


def test_only_a_str_itself_is_remembered() -> None:
    lan = pattern("LAN", "LAN")
    lan(None, SITE_FIELD, "LAN")
    assert "LAN" in lan._passed.values
    lan(None, SITE_FIELD, AddressType.LAN)  # an enum member: verified, not remembered
    assert len(lan._passed.values) == 1


def test_what_a_rule_remembers_is_bounded() -> None:
    check = pattern("[0-9]+", "digits")
    limit = check._passed.ENTRIES
    for n in range(limit * 2):
        check(None, SITE_FIELD, str(n))
    check(None, SITE_FIELD, "9" * (check._passed.LONGEST + 1))
    assert 0 < len(check._passed.values) <= limit
    assert "9" * (check._passed.LONGEST + 1) not in check._passed.values
