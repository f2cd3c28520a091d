"""Offer Manager (SMS_OFFER_MANAGER): advertisements into `offerinf.box`, and to the sites below.

The SMS 2.0 flowcharts (docs/sources.md#flowcharts): the console writes the advertisement;
Offer Manager prepares `<ObjectID>.ofr`, `<ObjectID>.ins` and the lookup `.lkp` in
`offerinf.box`, and Inbox Manager copies them to every CAP. A package is not advertised at a
site until its files are on at least one DP of that site; no client instruction files are
written until the target collection has clients. For a child site the advertisement is
replicated like a package, and the child's Offer Manager does the same there.

Work:
- `offermgr.box\\<AdvertisementID>.OFN`, SQL Monitor's wake-up after a console change at this
  site: the advertisement (or its deletion) goes to every site below, as `.OFR` objects through
  Replication Manager. `<CollectionID>.OFN` (a collection of this site has a new number of
  clients): the collection goes to every site below on its own, as a `.COL`, as SMS's
  collections replicate down the hierarchy on their own.
- `offermgr.box\\INCOMING\\*.OFR`, a replicated advertisement: recorded in the site's store (the
  database at a primary, the package's state file at a secondary). `*.COL`, a replicated
  collection: the site's copy takes its facts, if an advertisement brought it one; a primary
  sends its own advertisements of the collection again, so that the sites below it never keep
  a count it sent them before it knew the new one (the site that made the collection does too,
  for a site below that takes the `.COL` before the advertisement).
- Replication Manager names delivered objects by hashes, so objects wait in INCOMING in no
  order: each carries its owner's revision (`formats/revisions.py`), and only a newer one is
  applied. Only a site above may change an advertisement or collection here (`routing`'s
  `not_from_above`): anything else goes to `corrupt\\`.
- Then, and whenever Distribution Manager tells it that package facts changed (a package
  became known at the site, a DP of the site holds it now: `ctx.changed` on offermgr.box), one
  pass makes `offerinf.box` hold exactly the files the advertisements call for. Files are compared before they are written,
  so a pass that changes nothing writes nothing. At a secondary a pass reads the state files of
  the packages known to hold advertisements only (those a full look found, and those Offer
  Manager gave some since); a full look over every package's file comes at the first pass,
  and at the first pass `timing.full_look_interval` of lab time after the last one.

At a secondary each offer's `.ofr` also goes into `clicfg.src`, the client configuration
sources. Offer Manager deletes it there only when the advertisement itself is deleted: a deleted
package's advertisements are Distribution Manager's to delete at a secondary (Q257318), and the
`.ofr` stays behind when it does not (`software_distribution.secondaries_keep_advertisements`).
"""

from __future__ import annotations

import os
from pathlib import Path

from sitesrv.components.distmgr.pkgsend import subtree
from sitesrv.components.routing import not_from_above
from sitesrv.components.statusup import queue_replication
from sitesrv.db.sitedb import (
    Advertisement,
    Collection,
    PackageStatus,
    SourceFlag,
    StatusType,
)
from sitesrv.errors import FormatError
from sitesrv.files.folders import is_folder
from sitesrv.files.regular import STATE_FILE_BYTES, holds_bytes, read_limited
from sitesrv.formats import offer, pkn, revisions
from sitesrv.lab.boxes import CLICFG_SRC, OFFERINF, OFFERMGR, OFFERMGR_INCOMING, ignored_by_scans
from sitesrv.logs.win32 import error_text
from sitesrv.runtime.component import Component
from sitesrv.runtime.inbox import InboxSpec, WorkItem

PRIORITY = 2  # advertisements travel at normal priority


class OfferManager(Component):
    name = "SMS_OFFER_MANAGER"
    log_name = "offermgr.log"
    inboxes = (InboxSpec(OFFERMGR, (f"*{offer.NOTIFICATION_EXTENSION}",)),
               InboxSpec(OFFERMGR_INCOMING, (f"*{offer.REPLICATION_EXTENSION}",
                                             f"*{offer.COLLECTION_EXTENSION}")))

    def start(self) -> None:
        # Why each advertisement has no files yet, as last logged: a reason is logged once.
        self.noted: dict[str, str] = {}
        self.damaged: str | None = None  # the problem of the revisions file, as last logged
        self.full_look_at: float | None = None  # lab time of the next full look (None: now)
        self.ctx.wake_at(self.ctx.clock.now())

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            self._offer_pass()
            return False
        self.ctx.log.write(f"Processing file {self.ctx.windows(item.original)}.")
        if item.inbox.spec.folder == OFFERMGR:
            self._console_change(item)
        elif item.name.upper().endswith(offer.COLLECTION_EXTENSION):
            self._replicated_collection(item)
        else:
            self._replicated(item)
        return True

    # --- changes ----------------------------------------------------------------------------

    def _console_change(self, item: WorkItem) -> None:
        """An advertisement made, changed or deleted at this site, or a collection of this site
        with a new number of clients, goes to every site below (collection and advertisement
        IDs never meet: admin/advertisements.py)."""
        object_id = pkn.read(item.path).package_id
        collection = self.ctx.store.collection(object_id)
        if collection is not None and collection.SourceSite.upper() == self.ctx.site.code:
            self._send_collection(collection, key=item.name)
            self._send_advertisements_of(collection.CollectionID, key=item.name)
        else:
            self._send_advertisement(object_id, key=item.name)
        item.done()

    def _send_collection(self, collection: Collection, *, key: str) -> None:
        facts = _facts(collection, self._next_revision(collection.CollectionID))
        data = offer.COLLECTION.encode(facts)
        for dest in self._below():
            queue_replication(self.ctx, dest, PRIORITY, offer.COLLECTION_EXTENSION, data, key=key)
            self.ctx.log.write(f"Sent collection {collection.CollectionID} "
                               f"({collection.MemberCount} client(s)) to site {dest}")

    def _send_advertisements_of(self, collection_id: str, *, key: str) -> None:
        """This site's advertisements of the collection go again with its new facts: a site
        below that takes the `.COL` before the advertisement has nowhere to keep it yet, and
        would keep the count the advertisement brought."""
        site = self.ctx.site.code
        for adv in self.ctx.store.advertisements():
            if adv.CollectionID.upper() == collection_id.upper() \
                    and adv.SourceSite.upper() == site:
                self._send_advertisement(adv.AdvertisementID,
                                         key=f"{key}/{adv.AdvertisementID}")

    def _send_advertisement(self, adv_id: str, *, key: str) -> None:
        known = {a.AdvertisementID.upper(): a for a in self.ctx.store.advertisements()}
        adv = known.get(adv_id.upper())
        collection = None if adv is None else self.ctx.store.collection(adv.CollectionID)
        revision = self._next_revision(adv_id)
        if adv is None or collection is None:
            record = offer.OfferReplication(action=offer.OfferAction.DELETE,
                                            advertisement_id=adv_id, revision=revision)
        else:
            record = offer.OfferReplication(
                action=offer.OfferAction.ADD, advertisement_id=adv.AdvertisementID,
                offer=_offer(adv), revision=revision,
                collection=_facts(collection, self._revisions().get(collection.CollectionID)))
        for dest in self._below():
            queue_replication(self.ctx, dest, PRIORITY, offer.REPLICATION_EXTENSION,
                              offer.REPLICATION.encode(record), key=key)
            self.ctx.log.write(f"Sent advertisement {adv_id} ({record.action}) to site {dest}")

    def _below(self) -> list[str]:
        site = self.ctx.site.code
        return sorted(subtree(self.ctx.hierarchy, site) - {site})

    def _replicated(self, item: WorkItem) -> None:
        record = offer.REPLICATION.read(item.path)
        adv_id = record.advertisement_id
        owners = [(adv_id, record.offer.source_site if record.offer else None)]
        if record.collection is not None:
            owners.append((record.collection.collection_id, record.collection.source_site))
        problem = next(filter(None, (self._untrusted(*o) for o in owners)), None)
        if problem:
            item.quarantine(problem)
            return
        recorded = self._revisions().get(adv_id)
        if not revisions.is_newer(record.revision, recorded):
            self._discard(item, f"advertisement {adv_id}", record.revision, recorded)
            return
        applied = {adv_id: record.revision}
        if record.offer is None or record.collection is None:
            self.ctx.store.delete_advertisement(adv_id)
            self.ctx.log.write(f"Deleted replicated advertisement {adv_id}")
            self._remove_client_source(adv_id)
        else:
            o, c = record.offer, record.collection
            collection, newer = self._newest(c)
            if newer:
                applied[c.collection_id] = c.revision
            self.ctx.store.put_advertisement(
                Advertisement(AdvertisementID=o.advertisement_id, PackageID=o.package_id,
                              ProgramName=o.program_name, CollectionID=o.collection_id,
                              SourceSite=o.source_site, AdvertisementName=o.name,
                              PresentTime=o.present_time), collection)
            self.ctx.log.write(f"Updated replicated advertisement {o.advertisement_id} of "
                               f"package {o.package_id} from site {o.source_site}")
        self._record(applied)
        item.done()

    def _replicated_collection(self, item: WorkItem) -> None:
        c = offer.COLLECTION.read(item.path)
        problem = self._untrusted(c.collection_id, c.source_site)
        if problem:
            item.quarantine(problem)
            return
        collection, newer = self._newest(c)
        if not newer:
            self._discard(item, f"collection {c.collection_id}", c.revision,
                          self._revisions().get(c.collection_id))
            return
        if not self.ctx.store.update_collection(collection):
            self.ctx.log.write(f"Collection {c.collection_id} from site {c.source_site} is not "
                               "kept here: no advertisement here targets it")
            item.done()
            return
        self._record({c.collection_id: c.revision})
        self.ctx.log.write(f"Updated replicated collection {c.collection_id} from site "
                           f"{c.source_site}: {c.member_count} client(s)")
        self._send_advertisements_of(c.collection_id, key=item.name)
        item.done()

    # --- revisions and trust ----------------------------------------------------------------

    def _untrusted(self, object_id: str, source_site: str | None) -> str | None:
        """Why this site may not take a change of the object, or None: its owner (the site its
        ID names, and the source site it names) must be a site above this one."""
        for site in dict.fromkeys(filter(None, (object_id[:3].upper(),
                                                (source_site or "").upper()))):
            problem = not_from_above(self.ctx.hierarchy, self.ctx.site.code, site)
            if problem:
                return f"it changes {object_id}, but {problem}"
        return None

    def _newest(self, c: offer.CollectionFacts) -> tuple[Collection, bool]:
        """The collection to keep and whether it is `c`'s: the one this site holds stays if
        `c` is not newer. A site that holds none takes `c`, whatever revision it recorded
        when it last held one (its advertisements of it have gone since)."""
        held = self.ctx.store.collection(c.collection_id)
        if held is not None and not revisions.is_newer(
                c.revision, self._revisions().get(c.collection_id)):
            return held, False
        return Collection(CollectionID=c.collection_id, Name=c.name,
                          MemberCount=c.member_count, SourceSite=c.source_site), True

    def _discard(self, item: WorkItem, what: str, revision: int, recorded: int | None) -> None:
        self.ctx.log.write(f"~The replicated object {self.ctx.windows(item.original)} for {what} "
                           f"(revision {revision}) is not newer than the one applied here "
                           f"(revision {recorded}), discard it.")
        self.ctx.emit("offer_discarded", file=self.ctx.windows(item.original),
                      revision=revision, applied=recorded)
        item.done()

    def _revisions_path(self) -> Path:
        return self.ctx.layout.state_dir / revisions.FILE_NAME

    def _revisions(self) -> revisions.Revisions:
        """What the file says; a damaged one is said once and counts as empty until written."""
        path = self._revisions_path()
        try:
            return revisions.decode(read_limited(path, STATE_FILE_BYTES), path)
        except FileNotFoundError:
            return revisions.Revisions()
        except FormatError as e:
            problem = e.problem
        except OSError as e:
            problem = error_text(e)
        if self.damaged != problem:
            self.damaged = problem
            self.ctx.log.write(f"Cannot read the revisions in {self.ctx.windows(path)} "
                               f"({problem}); starting them again")
        return revisions.Revisions()

    def _record(self, applied: dict[str, int],
                ledger: revisions.Revisions | None = None) -> None:
        """Written after the change it records: a crash between leaves the object in INCOMING,
        to be applied again. `ledger`: the file as the caller just read it."""
        ledger = self._revisions() if ledger is None else ledger
        for object_id, revision in applied.items():
            ledger = ledger.with_revision(object_id, revision)
        path = self._revisions_path()
        self.ctx.make_dirs(path.parent)
        self.ctx.replace(path, revisions.encode(ledger))
        self.damaged = None

    def _next_revision(self, object_id: str) -> int:
        """The next change of this site's object: the lab time in milliseconds, or one more
        than the last if that is not higher, so a revisions file lost or damaged here never
        makes this site count again from 1 (the sites below would discard every change);
        recorded before it is sent, so a crash leaves a gap, never a number used twice."""
        ledger = self._revisions()
        revision = max((ledger.get(object_id) or 0) + 1, int(self.ctx.clock.now() * 1000))
        self._record({object_id: revision}, ledger)
        return revision

    # --- offerinf.box -----------------------------------------------------------------------

    def _offer_pass(self) -> None:
        """Make `offerinf.box` hold exactly the files the advertisements call for."""
        box = self.ctx.make_dirs(self.ctx.layout.inbox(OFFERINF))  # never through a link
        wanted: dict[str, bytes] = {}
        now = self.ctx.clock.now()
        full = self.full_look_at is None or now >= self.full_look_at
        advertisements = self.ctx.store.advertisements(known=not full)
        if full:  # only once it read every file: a damaged one makes the next pass look again
            self.full_look_at = now + self.ctx.timing.full_look_interval
        for adv in advertisements:
            wanted.update(self._files(adv))
        for name, data in sorted(wanted.items()):
            path = box / name
            if not holds_bytes(path, data):
                self.ctx.publish(path, data)
                self.ctx.log.write(f"Wrote {self.ctx.windows(path)}")
        # A link goes too, itself (never what it points to), whatever it points to.
        stale = [box / n for n in sorted(os.listdir(box)) if _is_client_file(n)
                 and n not in wanted and not is_folder(box / n)]
        for path in stale:  # each named as it goes: a removal that fails leaves the rest
            self.ctx.remove(path)
            self.ctx.changed(box, path.name)
            self.ctx.log.write(f"Deleted {self.ctx.windows(path)}, which no advertisement "
                               "calls for here now")
        if not self.ctx.site.is_primary:
            self._write_client_sources(wanted)

    def _write_client_sources(self, wanted: dict[str, bytes]) -> None:
        """A secondary's offers in `clicfg.src`; what is there and not wanted stays (Q257318)."""
        offers = {n: d for n, d in wanted.items() if n.lower().endswith(offer.OFFER_EXTENSION)}
        if not offers:
            return
        folder = self.ctx.make_dirs(self.ctx.layout.inbox(CLICFG_SRC))
        for name, data in sorted(offers.items()):
            if not holds_bytes(folder / name, data):
                self.ctx.publish(folder / name, data)
                self.ctx.log.write(f"Wrote {self.ctx.windows(folder / name)}")

    def _remove_client_source(self, adv_id: str) -> None:
        path = self.ctx.layout.inbox(CLICFG_SRC) / offer.client_file_names(adv_id)[0]
        if self.ctx.remove(path):
            self.ctx.log.write(f"Deleted {self.ctx.windows(path)}")

    def _files(self, adv: Advertisement) -> dict[str, bytes]:
        """The files of one advertisement at this site, by name: none, the offer, or all three."""
        adv_id = adv.AdvertisementID
        package = self.ctx.store.package(adv.PackageID)
        if package is None:
            self._note(adv_id, f"Advertisement {adv_id} waits for the information of package "
                               f"{adv.PackageID}")
            return {}
        if package.StorePkgFlag != SourceFlag.NO_SOURCE and not self._on_a_dp(adv.PackageID):
            self._note(adv_id, f"Advertisement {adv_id} is not offered yet: package "
                               f"{adv.PackageID} is not on a distribution point of this site")
            return {}
        ofr, ins, lkp = offer.client_file_names(adv_id)
        files = {ofr: offer.OFFER.encode(_offer(adv))}
        collection = self.ctx.store.collection(adv.CollectionID)
        clients = 0 if collection is None else collection.MemberCount
        if clients == 0:
            self._note(adv_id, f"Advertisement {adv_id} is offered; collection "
                               f"{adv.CollectionID} has no clients, so no instruction files")
            return files
        self._note(adv_id, f"Advertisement {adv_id} is offered to the {clients} client(s) of "
                           f"collection {adv.CollectionID}")
        files[ins] = offer.INSTRUCTION.encode(offer.OfferInstruction(
            advertisement_id=adv_id, collection_id=adv.CollectionID))
        files[lkp] = offer.LOOKUP.encode(offer.Lookup(advertisement_id=adv_id, recipients=(
            offer.Recipient(collection_id=adv.CollectionID, member_count=clients),)))
        return files

    def _on_a_dp(self, pkg_id: str) -> bool:
        return any(r.Status == PackageStatus.INSTALLED for r in self.ctx.store.statuses(
            pkg_id, status_type=StatusType.COPY, site_code=self.ctx.site.code))

    def _note(self, adv_id: str, line: str) -> None:
        if self.noted.get(adv_id) != line:
            self.noted[adv_id] = line
            self.ctx.log.write(line)


def _offer(adv: Advertisement) -> offer.Offer:
    return offer.Offer(advertisement_id=adv.AdvertisementID, name=adv.AdvertisementName,
                       package_id=adv.PackageID, program_name=adv.ProgramName,
                       collection_id=adv.CollectionID, source_site=adv.SourceSite,
                       present_time=adv.PresentTime)


def _facts(collection: Collection, revision: int | None) -> offer.CollectionFacts:
    return offer.CollectionFacts(collection_id=collection.CollectionID, name=collection.Name,
                                 member_count=collection.MemberCount,
                                 source_site=collection.SourceSite, revision=revision or 0)


def _is_client_file(name: str) -> bool:
    return not ignored_by_scans(name) and name.lower().endswith(offer.CLIENT_EXTENSIONS)


