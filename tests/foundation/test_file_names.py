"""The rule for names no Windows file system holds (files/names.py), as properties: it tells
them from the rest, shows each on one line of UTF-8 that gives the name back, and keeps each
under a name that is no stranger."""

from __future__ import annotations

import os
import re

from hypothesis import given
from hypothesis import strategies as st

from sitesrv.files.names import escaped_name, foreign_name, is_windows_name, safe_name
from sitesrv.formats import rpl

# What Linux can give as a name: any bytes but `/` and NUL, decoded as os.listdir does.
LINUX_NAMES = st.binary(min_size=1, max_size=40).map(
    lambda b: os.fsdecode(b.replace(b"/", b"_").replace(b"\0", b"_")))
NAMES = LINUX_NAMES | st.text(max_size=40)  # any code point too, lone surrogates included
NTFS_REFUSED = set(map(chr, range(32))) | set('<>:"/\\|?*')
ESCAPE = re.compile(r"\\x([0-9a-f]{2})|\\u([0-9a-f]{4})")


def unescaped(shown: str) -> str:
    """The name a log line shows: `\\x80`-`\\xff` are bytes that are not UTF-8 (the characters
    U+0080-U+00FF are never escaped), the other escapes characters."""
    def one(m: re.Match[str]) -> str:
        code = int(m[1] or m[2], 16)
        return chr(0xDC00 + code) if m[1] and code >= 0x80 else chr(code)
    return ESCAPE.sub(one, shown)


def is_windows(name: str) -> bool:
    """NTFS's rule, written out: UTF-16 (no lone surrogate, no byte that is not UTF-8) and
    none of the refused characters."""
    return not any(ch in NTFS_REFUSED or 0xD800 <= ord(ch) <= 0xDFFF for ch in name)


@given(NAMES)
def test_the_rule_is_ntfss_and_a_name_it_keeps_is_left_alone(name: str) -> None:
    assert is_windows_name(name) == is_windows(name) == (foreign_name(name) is None)
    if is_windows_name(name):
        assert escaped_name(name) == name and safe_name(name) == name


@given(NAMES)
def test_a_shown_name_is_one_line_of_utf8_that_gives_the_name_back(name: str) -> None:
    shown = escaped_name(name)
    shown.encode("utf-8")  # never a surrogate
    assert not any(ch < " " for ch in shown)
    assert unescaped(shown) == name
    reason = foreign_name(name)
    if reason is not None:
        reason.encode("utf-8")
        assert not any(ch < " " for ch in reason)


@given(NAMES)
def test_a_kept_name_is_one_windows_holds(name: str) -> None:
    kept = safe_name(name)
    assert is_windows_name(kept)
    kept.encode("utf-8")


@given(st.binary(min_size=1, max_size=40))
def test_a_name_that_is_not_utf8_is_a_stranger(raw: bytes) -> None:
    raw = raw.replace(b"/", b"_").replace(b"\0", b"_")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        assert not is_windows_name(os.fsdecode(raw))


@given(st.text(max_size=12).map(lambda s: f"P00_{s}.PKG"))
def test_a_replication_objects_name_is_never_a_stranger(name: str) -> None:
    """A batch from another site names its objects; one no Windows file name could be (an
    escape character in it) is refused with its batch, never logged as it is."""
    try:
        rpl.OBJECT_NAME.verify(name)
    except ValueError:
        return
    assert is_windows_name(name)
