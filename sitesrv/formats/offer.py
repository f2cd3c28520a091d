"""Advertisement files: what Offer Manager writes into `offerinf.box`, and what it replicates.

The SMS 2.0 flowcharts (docs/sources.md#flowcharts) name three files per advertisement in
`offerinf.box`, which Inbox Manager copies to every CAP: `<ObjectID>.ofr` (the offer: which
program of which package, for which collection, from when), `<ObjectID>.ins` (the instruction:
which advertisement goes with which collection) and the lookup `.lkp` (which recipients get the
instruction). Their on-disk layout is not public; these are readable stand-ins in the layout
every instruction file shares (`sections.py`). sitesrv has no client records, so a lookup names
the collection and its number of clients instead of client GUIDs (docs/differences.md).

Between sites an advertisement travels as a replication object `<DEST>_<random8>.OFR`
("replicated like a package"): an `[ACTION]` (ADD or DELETE) and, for ADD, the advertisement's
`[ADVERTISEMENT]` and its collection's `[COLLECTION]`, which a child needs to decide whether
to write instruction files. A change of a collection's clients travels on its own, as a
`<DEST>_<random8>.COL` holding the `[COLLECTION]` alone, from the site that made the collection
to every site below. `.OFN`, SQL Monitor's wake-up call to Offer Manager, has the `.PKN` layout
(`pkn.py`) with the advertisement or collection ID as its KeyName.

Each replicated object carries a `Revision` (sitesrv's, as the layout is not public): the source
site's revision of the advertisement (`[ACTION]`) or the collection (`[COLLECTION]`), the lab
time of the change in milliseconds, so
that a receiving site applies only what is newer than what it applied, in whatever order the
objects arrive (docs/distribution.md). An object from an older sitesrv has none: it reads as
revision 0, which means "not known" (`revisions.py`).
"""

from __future__ import annotations

from enum import StrEnum

import attrs

from sitesrv.formats.sections import INTEGER, ISO_TIME, Embedded, Key, Layout, enum, many, one
from sitesrv.formats.values import (
    COUNT,
    NONEMPTY_TEXT,
    PACKAGE_ID,
    SITE_CODE,
    TEXT,
    TIMESTAMP,
    member,
    to_member,
    to_millis,
)

OFFER_EXTENSION = ".ofr"
INSTRUCTION_EXTENSION = ".ins"
LOOKUP_EXTENSION = ".lkp"
CLIENT_EXTENSIONS = (OFFER_EXTENSION, INSTRUCTION_EXTENSION, LOOKUP_EXTENSION)
REPLICATION_EXTENSION = ".OFR"  # the object class Replication Manager carries between sites
COLLECTION_EXTENSION = ".COL"  # a replicated collection: its `[COLLECTION]` alone
NOTIFICATION_EXTENSION = ".OFN"
NOTIFICATION_TABLE = "OFFERNOTIFICATION"
# Advertisement and collection IDs have a package ID's shape: a site code and 5 hex digits.
OBJECT_ID = PACKAGE_ID


class OfferAction(StrEnum):
    """What the receiving site does with a replicated advertisement."""

    ADD = "ADD"  # add it, or replace what the site has
    DELETE = "DELETE"


@attrs.frozen(kw_only=True)
class Offer:
    """`<AdvertisementID>.ofr`: a program of a package offered to a collection."""

    advertisement_id: str = attrs.field(validator=OBJECT_ID)
    name: str = attrs.field(default="", validator=TEXT)
    package_id: str = attrs.field(validator=PACKAGE_ID)
    program_name: str = attrs.field(validator=NONEMPTY_TEXT)
    collection_id: str = attrs.field(validator=OBJECT_ID)
    source_site: str = attrs.field(validator=SITE_CODE)
    present_time: float = attrs.field(converter=to_millis, validator=TIMESTAMP)


@attrs.frozen(kw_only=True)
class OfferInstruction:
    """`<AdvertisementID>.ins`: the advertisement goes with this collection."""

    advertisement_id: str = attrs.field(validator=OBJECT_ID)
    collection_id: str = attrs.field(validator=OBJECT_ID)


@attrs.frozen(kw_only=True)
class Recipient:
    """A lookup's recipient: a collection and how many clients it has (no client records)."""

    collection_id: str = attrs.field(validator=OBJECT_ID)
    member_count: int = attrs.field(validator=COUNT)


@attrs.frozen(kw_only=True)
class Lookup:
    """`<AdvertisementID>.lkp`: which recipients get the instruction file."""

    advertisement_id: str = attrs.field(validator=OBJECT_ID)
    recipients: tuple[Recipient, ...] = attrs.field(
        converter=tuple,
        validator=attrs.validators.deep_iterable(attrs.validators.instance_of(Recipient)))

    def __attrs_post_init__(self) -> None:
        if not self.recipients:
            raise ValueError("a lookup names at least one recipient")


@attrs.frozen(kw_only=True)
class CollectionFacts:
    """What a child needs to know of the target collection (with an advertisement, or alone in
    a `.COL` when its clients change)."""

    collection_id: str = attrs.field(validator=OBJECT_ID)
    name: str = attrs.field(default="", validator=TEXT)
    member_count: int = attrs.field(validator=COUNT)
    source_site: str = attrs.field(validator=SITE_CODE)
    revision: int = attrs.field(default=0, validator=COUNT)  # the source's; 0: not known


@attrs.frozen(kw_only=True)
class OfferReplication:
    """A replicated advertisement (`.OFR`): ADD carries it and its collection, DELETE neither."""

    action: OfferAction = attrs.field(converter=to_member(OfferAction),
                                      validator=member(OfferAction))
    advertisement_id: str = attrs.field(validator=OBJECT_ID)
    offer: Offer | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.instance_of(Offer)))
    collection: CollectionFacts | None = attrs.field(
        default=None, validator=attrs.validators.optional(
            attrs.validators.instance_of(CollectionFacts)))
    revision: int = attrs.field(default=0, validator=COUNT)  # the source's; 0: not known

    def __attrs_post_init__(self) -> None:
        carried = self.offer is not None and self.collection is not None
        if self.action is OfferAction.ADD and not carried:
            raise ValueError("an ADD carries the [ADVERTISEMENT] and its [COLLECTION]")
        if self.action is OfferAction.DELETE and (self.offer or self.collection):
            raise ValueError("a DELETE carries only the advertisement ID")
        if self.offer is not None and self.collection is not None and (
                self.offer.advertisement_id != self.advertisement_id
                or self.offer.collection_id != self.collection.collection_id):
            raise ValueError("the [ADVERTISEMENT] and [COLLECTION] must be the ones the "
                             "[ACTION] names")


OFFER = Layout(Offer, "offer file", (
    one("ADVERTISEMENT",
        Key("AdvertisementID", "advertisement_id"),
        Key("AdvertisementName", "name"),
        Key("PackageID", "package_id"),
        Key("ProgramName", "program_name"),
        Key("CollectionID", "collection_id"),
        Key("SourceSite", "source_site"),
        Key("PresentTime", "present_time", ISO_TIME)),
))
INSTRUCTION = Layout(OfferInstruction, "advertisement instruction file", (
    one("INSTRUCTION",
        Key("AdvertisementID", "advertisement_id"),
        Key("CollectionID", "collection_id")),
))
LOOKUP = Layout(Lookup, "advertisement lookup file", (
    one("LOOKUP",
        Key("AdvertisementID", "advertisement_id")),
    many("RECIPIENT", "recipients", Recipient,
         Key("CollectionID", "collection_id"),
         Key("MemberCount", "member_count", INTEGER),
         minimum=1),
))
COLLECTION = Layout(CollectionFacts, "collection", (
    one("COLLECTION",
        Key("CollectionID", "collection_id"),
        Key("Name", "name"),
        Key("MemberCount", "member_count", INTEGER),
        Key("SourceSite", "source_site"),
        Key("Revision", "revision", INTEGER, optional=True)),
))
REPLICATION = Layout(OfferReplication, "replicated advertisement", (
    one("ACTION",
        Key("Action", "action", enum(OfferAction)),
        Key("AdvertisementID", "advertisement_id"),
        Key("Revision", "revision", INTEGER, optional=True)),
    Embedded("offer", OFFER),
    Embedded("collection", COLLECTION),
))


def client_file_names(advertisement_id: str) -> tuple[str, str, str]:
    """`<ID>.ofr`, `<ID>.ins`, `<ID>.lkp`: the files of one advertisement in offerinf.box."""
    OBJECT_ID.verify(advertisement_id)
    return (f"{advertisement_id}{OFFER_EXTENSION}", f"{advertisement_id}{INSTRUCTION_EXTENSION}",
            f"{advertisement_id}{LOOKUP_EXTENSION}")


def notification_name(advertisement_id: str) -> str:
    """`<AdvertisementID>.OFN`, SQL Monitor's name for the notification in offermgr.box."""
    OBJECT_ID.verify(advertisement_id)
    return f"{advertisement_id}{NOTIFICATION_EXTENSION}"
