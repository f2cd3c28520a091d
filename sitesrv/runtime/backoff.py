"""How long a transient cause is waited for: a delay that doubles with each earlier retry, up
to a ceiling, so that something that waits for ever keeps a lab busy at a bounded, falling
rate. The runtime's busy site database and the Despooler's retried instructions share it."""

from __future__ import annotations

from sitesrv.db.sitedb import is_busy
from sitesrv.files import drive

MAX_DOUBLINGS = 4  # the delay grows to at most 2**4 = 16 times the first


def backoff(first: float, earlier: int) -> float:
    """The delay before a retry, after `earlier` retries of the same thing."""
    return first * 2 ** min(earlier, MAX_DOUBLINGS)


def is_transient(error: BaseException) -> bool:
    """A cause that passes by itself, waited for and never counted as a failure: a busy site
    database, a full disk, a file held open."""
    return is_busy(error) or drive.is_transient(error)
