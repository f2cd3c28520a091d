"""`SMS\\state\\offermgr-revisions.json`: the revision of each advertisement and collection that
Offer Manager sent (at the site that owns it) or applied (at a site below). sitesrv's own file,
as the revision is (docs/differences.md).

A replicated `.OFR` or `.COL` carries its source site's revision of the object, the lab time
of the change in milliseconds (`offer.py`). Replication Manager delivers objects under hashed names, so two of them for one
advertisement that wait together in `offermgr.box\\INCOMING` are taken in no particular order;
the revision recorded here decides whether the next one is newer. A DELETE's revision stays
after the advertisement is gone, a tombstone, so an older ADD that comes late does not bring it
back. The file is a JSON object, object ID to revision, as the site's other state files are
JSON:

    {
     "ZZZ10000": 2,
     "ZZZ20000": 3
    }
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import attrs

from sitesrv.errors import FormatError
from sitesrv.formats.values import COUNT, PACKAGE_ID

FILE_NAME = "offermgr-revisions.json"


def _upper_keys(revisions: Mapping[str, int]) -> dict[str, int]:
    out = {key.upper(): value for key, value in revisions.items()}
    if len(out) != len(revisions):
        raise ValueError("an object has one revision only, whatever the case of its ID")
    return out


def _check(instance: object, attribute: object, revisions: dict[str, int]) -> None:
    for object_id, revision in revisions.items():
        try:
            PACKAGE_ID.verify(object_id)
            COUNT.verify(revision)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{object_id!r}: {e}") from None


@attrs.frozen
class Revisions:
    """Object ID (an advertisement's or a collection's: they never meet) -> its revision."""

    by_id: Mapping[str, int] = attrs.field(factory=dict, converter=_upper_keys, validator=_check)

    def get(self, object_id: str) -> int | None:
        return self.by_id.get(object_id.upper())

    def with_revision(self, object_id: str, revision: int) -> Revisions:
        return Revisions({**self.by_id, object_id.upper(): revision})


def is_newer(revision: int, recorded: int | None) -> bool:
    """Whether an object of `revision` is applied over the one of `recorded` (None: none).

    Revision 0 is an object from an older sitesrv, which counts nothing: applied as it comes
    (as before revisions) until an object with a revision has been applied, which it may be
    older than."""
    recorded = recorded or 0
    return revision > recorded or revision == recorded == 0


def encode(revisions: Revisions) -> bytes:
    return json.dumps(dict(revisions.by_id), indent=1, sort_keys=True).encode("utf-8") + b"\n"


def decode(data: bytes, path: object = "<bytes>") -> Revisions:
    """The revisions in a file's bytes; FormatError naming `path` and the problem."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise FormatError(path, f"cannot read the offer revisions: {e}") from None
    if not isinstance(doc, dict):
        raise FormatError(path, "the offer revisions are not a JSON object")
    try:
        return Revisions(doc)
    except (TypeError, ValueError) as e:
        raise FormatError(path, f"the offer revisions are not in the expected shape: {e}") \
            from None
