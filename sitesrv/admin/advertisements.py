"""The console's advertisements and collections: rows in a primary site's database, nothing else.

As for packages (console.py), an action writes the `Advertisements` or `Collections` row and an
`OfferNotification` row; SQL Monitor wakes Offer Manager, which writes the client files and
replicates the advertisement, or a collection whose clients changed, to the sites below when the
site servers run. Collections are a minimal model: an ID, a name and a number of clients
(docs/database.md).
"""

from __future__ import annotations

import attrs

from sitesrv.admin.console import known_package, one_line_name, primary_site, source_code
from sitesrv.admin.lab import Lab
from sitesrv.db.sitedb import Advertisement, Collection, PackageAction, SiteDatabase
from sitesrv.errors import UserError
from sitesrv.formats.sections import parse_timestamp

FIRST_COLLECTION = 0x10000  # collection IDs ZZZ10000, ZZZ10001, ... ZZZ1FFFF
FIRST_ADVERTISEMENT = 0x20000  # advertisement IDs ZZZ20000, ZZZ20001, ...
# The ranges never meet: an OfferNotification's OfferID names either kind (Offer Manager).
LAST_COLLECTION = FIRST_ADVERTISEMENT - 1


def _open(lab: Lab, code: str, what: str) -> tuple[SiteDatabase, str]:
    site = primary_site(lab, code, what)
    return SiteDatabase.open(lab.site(site.code).database), site.code


def create_collection(lab: Lab, site_code: str, *, name: str, clients: int = 0) -> str:
    """A new collection at `site_code` with `clients` clients; returns its CollectionID."""
    if clients < 0:
        raise UserError(f"A collection cannot have {clients} clients; give 0 or more.")
    one_line_name(name, "The collection name")
    db, code = _open(lab, site_code, "creating a collection")
    with db, db.transaction():
        collection_id = db.next_object_id("Collection", code, FIRST_COLLECTION,
                                           LAST_COLLECTION)
        db.put_collection(Collection(CollectionID=collection_id, Name=name, MemberCount=clients,
                                     SourceSite=code))
    return collection_id


def set_clients(lab: Lab, collection_id: str, clients: int) -> None:
    """Change how many clients a collection has; Offer Manager sends the collection to every site
    below, where the advertisements of it are looked at again."""
    if clients < 0:
        raise UserError(f"A collection cannot have {clients} clients; give 0 or more.")
    code = source_code(lab, collection_id, "collection", "'sitesrv collection list SITE'")
    db, _ = _open(lab, code, "changing a collection")  # made where its ID says
    with db, db.transaction():
        collection = _collection(db, collection_id, code)
        db.put_collection(attrs.evolve(collection, MemberCount=clients))
        db.add_offer_notification(collection.CollectionID, PackageAction.UPDATE, when=lab.time())


def list_collections(lab: Lab, site_code: str) -> list[Collection]:
    db, _ = _open(lab, site_code, "listing collections")
    with db:
        return db.get_collections()


def create_advertisement(lab: Lab, site_code: str, *, package_id: str, program: str,
                         collection_id: str, name: str = "",
                         present_time: str | None = None) -> str:
    """Advertise `program` of a package to a collection from `present_time` (ISO UTC text;
    default: now in lab time); returns the AdvertisementID."""
    if not program.strip():
        raise UserError("Name the program to advertise with --program.")
    one_line_name(program.strip(), "The program name")
    if name:
        one_line_name(name, "The advertisement name")
    when = lab.time()
    if present_time is not None:
        try:
            when = parse_timestamp(present_time)
        except ValueError as e:
            raise UserError(f"--schedule {present_time!r} is {e}.") from None
    source_code(lab, package_id)  # a bad package ID is the problem to report first
    db, code = _open(lab, site_code, "advertising a package")
    with db, db.transaction():
        package = known_package(db, package_id, lab.hierarchy.site(code))
        collection = _collection(db, collection_id, code)
        adv_id = db.next_object_id("Advertisement", code, FIRST_ADVERTISEMENT)
        db.put_advertisement(Advertisement(
            AdvertisementID=adv_id, PackageID=package.PkgID, ProgramName=program.strip(),
            CollectionID=collection.CollectionID, SourceSite=code,
            AdvertisementName=name or f"{package.Name or package.PkgID} - {program.strip()}",
            PresentTime=when))
        db.add_offer_notification(adv_id, PackageAction.ADD, when=lab.time())
    return adv_id


def list_advertisements(lab: Lab, site_code: str) -> list[Advertisement]:
    db, _ = _open(lab, site_code, "listing advertisements")
    with db:
        return db.get_advertisements()


def delete_advertisement(lab: Lab, advertisement_id: str) -> None:
    """Delete an advertisement at the site that made it; Offer Manager does the rest."""
    db, code = _open(lab, source_code(lab, advertisement_id, "advertisement",
                                      "'sitesrv advertisement list SITE'"),
                     "deleting an advertisement")
    with db, db.transaction():
        known = {a.AdvertisementID.upper(): a for a in db.get_advertisements()}
        adv = known.get(advertisement_id.upper())
        if adv is None or adv.SourceSite.upper() != code:
            raise UserError(f"There is no advertisement {advertisement_id.upper()} made at site "
                            f"{code}; 'sitesrv advertisement list {code}' lists them.")
        db.delete_advertisement(adv.AdvertisementID)
        db.add_offer_notification(adv.AdvertisementID, PackageAction.DELETE, when=lab.time())


def _collection(db: SiteDatabase, collection_id: str, site: str) -> Collection:
    collection = db.get_collection(collection_id)
    if collection is None:
        raise UserError(f"There is no collection {collection_id.upper()} at site {site}; "
                        "'sitesrv collection list SITE' lists them, 'sitesrv collection create' "
                        "makes one.")
    return collection
