"""The rules for what SMS names: sites, servers, shares, packages, jobs and send requests.

Each rule is written once here and used everywhere (hierarchy.yaml, the instruction files, the
site database, the compressed packages). SMS writes every code and ID in upper case; where a
person types one (the console, SQL, a package file handed to the compression tools) any letter
case is read, and the canonical spelling is the upper-case one.
"""

from __future__ import annotations

import re
from typing import NamedTuple

SITE_CODE = r"[A-Z0-9]{3}"
# A package ID is the creating site's code and a 5-digit hex number (`ZZZ0000A`).
PACKAGE_NUMBER_DIGITS = 5
MAX_PACKAGE_NUMBER = 16**PACKAGE_NUMBER_DIGITS - 1
PACKAGE_ID = rf"({SITE_CODE})([0-9A-F]{{{PACKAGE_NUMBER_DIGITS}}})"
JOB_ID = r"[0-9A-F]{8}"

SITE_CODE_RE = re.compile(SITE_CODE)
PACKAGE_ID_RE = re.compile(PACKAGE_ID)
# The same rules, read in any letter case.
SITE_CODE_ANY_CASE_RE = re.compile(SITE_CODE, re.IGNORECASE)
PACKAGE_ID_ANY_CASE_RE = re.compile(PACKAGE_ID, re.IGNORECASE)
JOB_ID_RE = re.compile(JOB_ID)
# A NetBIOS server name: at most 15 characters, none of " / \ [ ] ; : | = + * ? , < > or space,
# and not dots alone (`..` would be a folder of the lab's, not a server).
SERVER_RE = re.compile(r'(?!\.+$)[^"/\\\[\];:|=+*?,<>\s]{1,15}')
# A share name, possibly with folders inside the share (`smsapps\SMSPKG`).
SHARE_RE = re.compile(r'[^"/\[\];:|=+*?,<>]+')

# SMS keeps versions (SourceVersion, StoredPkgVersion) in SQL Server int columns.
MAX_VERSION = 2**31 - 1
NAL_PREFIX = 'MSWNET:["SMS_SITE='

SITE_CODE_TEXT = "a site code (3 upper-case letters or digits)"
PACKAGE_ID_TEXT = "a package ID (a site code and 5 upper-case hex digits, e.g. CEN0001A)"


def is_site_code(text: object) -> bool:
    """A site code as SMS writes it (upper case)."""
    return isinstance(text, str) and SITE_CODE_RE.fullmatch(text) is not None


def is_nal_path(text: object) -> bool:
    """A DP's NAL path as SMS writes it: `MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\`,
    a server and a share (with folders in it), each a plain name."""
    if not isinstance(text, str) or not text.startswith(NAL_PREFIX):
        return False
    site, sep, rest = text[len(NAL_PREFIX):].partition('"]\\\\')
    parts = rest.split("\\")
    return (bool(sep) and is_site_code(site) and len(parts) >= 3 and parts[-1] == ""
            and SERVER_RE.fullmatch(parts[0]) is not None
            and all(SHARE_RE.fullmatch(p) and p.strip(". ") for p in parts[1:-1]))


def format_package_id(site_code: str, number: int) -> str:
    """A package ID: the creating site's code and a 5-digit upper-case hex number."""
    if not isinstance(site_code, str) or not SITE_CODE_ANY_CASE_RE.fullmatch(site_code):
        raise ValueError(f"{site_code!r} is not a site code: a site code is 3 letters or digits")
    if not 0 <= number <= MAX_PACKAGE_NUMBER:
        raise ValueError(f"package number {number} does not fit in 5 hex digits")
    return f"{site_code.upper()}{number:05X}"


def parse_package_id(package_id: str) -> tuple[str, int]:
    """Split a package ID into site code and number; IDs compare case-insensitively, as in SMS."""
    match = PACKAGE_ID_ANY_CASE_RE.fullmatch(package_id) if isinstance(package_id, str) else None
    if match is None:
        raise ValueError(
            f"{package_id!r} is not a package ID: a package ID is a 3-character site code "
            "followed by 5 hex digits, for example ZZZ0000A"
        )
    return match.group(1).upper(), int(match.group(2), 16)


def check_package_id(package_id: str) -> str:
    """A package ID in any letter case (it names `<PkgID>.PCK` and `<share>\\<PkgID>`)."""
    if not isinstance(package_id, str) or not PACKAGE_ID_ANY_CASE_RE.fullmatch(package_id):
        raise ValueError(f"invalid package ID {package_id!r}: expected a site code and 5 hex "
                         "digits, e.g. CEN0001A")
    return package_id


# --- send request IDs ---------------------------------------------------------------------------

REQUEST_ID_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SHORT_COUNTER_LIMIT = 36**3  # counters below this are written `_` + 3 digits
COUNTER_LIMIT = 36**4
PRIORITIES = (1, 2, 3)


class RequestIdParts(NamedTuple):
    priority: int
    counter: int
    site: str


def _base36(n: int, width: int) -> str:
    out = ""
    for _ in range(width):
        n, digit = divmod(n, 36)
        out = REQUEST_ID_DIGITS[digit] + out
    return out


def request_id(priority: int, counter: int, site: str) -> str:
    """The 8-character send request ID: `request_id(2, 1, "CEN")` is `2_001CEN`."""
    if isinstance(priority, bool) or priority not in PRIORITIES:
        raise ValueError(f"priority {priority!r} is not 1, 2 or 3")
    if (not isinstance(counter, int) or isinstance(counter, bool)
            or not 0 <= counter < COUNTER_LIMIT):
        raise ValueError(f"counter {counter!r} is not between 0 and {COUNTER_LIMIT - 1}")
    if not is_site_code(site):
        raise ValueError(f"{site!r} is not a site code")
    body = ("_" + _base36(counter, 3) if counter < SHORT_COUNTER_LIMIT
            else _base36(counter, 4))
    return f"{priority}{body}{site}"


def parse_request_id(text: str) -> RequestIdParts:
    """The parts of a send request ID, read case-insensitively (the despooler logs `2_001cen`).

    Only the canonical spelling is accepted: `20ZZZCEN` must be written `2_ZZZCEN`.
    """
    upper = text.upper() if isinstance(text, str) else ""
    counter = upper[1:5]
    digits = counter[1:] if counter.startswith("_") else counter
    if (len(upper) != 8 or upper[0] not in "123" or not digits
            or any(c not in REQUEST_ID_DIGITS for c in digits) or not is_site_code(upper[5:])):
        raise ValueError(f"{text!r} is not a send request ID (priority 1-3, 4-character "
                         f"counter, site code, e.g. 2_001CEN)")
    value = int(digits, 36)
    if (len(digits) == 4) != (value >= SHORT_COUNTER_LIMIT):
        raise ValueError(f"{text!r} is not a send request ID: counter {value} is spelled "
                         f"{request_id(int(upper[0]), value, upper[5:])[1:5]}")
    return RequestIdParts(int(upper[0]), value, upper[5:])
