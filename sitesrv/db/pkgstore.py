"""What a site knows about its packages, whether it has a database or not.

A primary site keeps package definitions, distribution points, status rows and advertisements in
its SQL database; a secondary has none and keeps the same facts in state files
(docs/differences.md), a package's advertisements in the package's file, so that deleting the
package deletes them (Q257318).
Components talk to a `PackageStore` and never ask which kind they have, so the Distribution
Manager logic is one piece of code at every tier.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import attrs

from sitesrv.db.sitedb import (
    Advertisement,
    Collection,
    Package,
    PackageAction,
    PkgServer,
    PkgStatus,
    SiteDatabase,
    StatusType,
)
from sitesrv.errors import FormatError
from sitesrv.files.atomic import Durability, replace_file
from sitesrv.files.regular import PACKAGE_STATE_BYTES, read_limited
from sitesrv.lab.layout import SiteLayout


class PackageStore(Protocol):
    """The package facts a site keeps; see module docstring."""

    def package_ids(self) -> list[str]: ...
    def package(self, pkg_id: str) -> Package | None: ...
    def put_package(self, package: Package) -> None: ...
    def delete_package(self, pkg_id: str) -> None: ...
    def servers(self, pkg_id: str) -> list[PkgServer]: ...
    def has_server(self, pkg_id: str, nal_path: str) -> bool: ...
    def put_server(self, server: PkgServer) -> None: ...
    def delete_server(self, pkg_id: str, nal_path: str) -> None: ...
    def statuses(self, pkg_id: str, *, status_type: StatusType | None = None,
                 site_code: str | None = None) -> list[PkgStatus]: ...
    def put_status(self, status: PkgStatus) -> bool: ...
    def delete_status(self, pkg_id: str, status_type: StatusType, site_code: str,
                      pkg_server: str) -> None: ...
    def transaction(self) -> contextlib.AbstractContextManager[None]: ...
    # Column-level changes: two components of a site (Distribution Manager, Despooler) and a
    # person at the console write the same rows; each sets only what it owns.
    def update_package(self, pkg_id: str, **columns: Any) -> None: ...
    def set_stored(self, pkg_id: str, version: int, path: str) -> None: ...
    def clear_action(self, pkg_id: str, handled: PackageAction) -> None: ...
    def settle_server(self, server: PkgServer, when: float) -> None: ...
    # Advertisements, each with the collection it targets as this site knows it. `known`: of
    # the packages this store saw holding advertisements at its last full look or has given
    # some since (a secondary's files; a database answers in full at no cost).
    def advertisements(self, pkg_id: str | None = None, *,
                       known: bool = False) -> list[Advertisement]: ...
    def put_advertisement(self, advertisement: Advertisement, collection: Collection) -> None: ...
    def delete_advertisement(self, advertisement_id: str) -> None: ...
    def collection(self, collection_id: str) -> Collection | None: ...
    # A collection's new facts from the site that made it; False if this site holds no copy.
    def update_collection(self, collection: Collection) -> bool: ...


class DatabaseStore:
    """A primary site's store: its site database."""

    def __init__(self, db: SiteDatabase) -> None:
        self.db = db

    def package_ids(self) -> list[str]:
        return self.db.package_ids()

    def package(self, pkg_id: str) -> Package | None:
        return self.db.get_package(pkg_id)

    def put_package(self, package: Package) -> None:
        self.db.put_package(package)

    def delete_package(self, pkg_id: str) -> None:
        self.db.delete_package(pkg_id)

    def servers(self, pkg_id: str) -> list[PkgServer]:
        return self.db.get_pkg_servers(pkg_id)

    def has_server(self, pkg_id: str, nal_path: str) -> bool:
        return self.db.has_pkg_server(pkg_id, nal_path)

    def put_server(self, server: PkgServer) -> None:
        self.db.put_pkg_server(server)

    def delete_server(self, pkg_id: str, nal_path: str) -> None:
        self.db.delete_pkg_server(pkg_id, nal_path)

    def statuses(self, pkg_id: str, *, status_type: StatusType | None = None,
                 site_code: str | None = None) -> list[PkgStatus]:
        return self.db.get_pkg_status(pkg_id, status_type=status_type, site_code=site_code)

    def put_status(self, status: PkgStatus) -> bool:
        return self.db.upsert_pkg_status(status)

    def delete_status(self, pkg_id: str, status_type: StatusType, site_code: str,
                      pkg_server: str) -> None:
        self.db.delete_pkg_status(pkg_id, status_type, site_code, pkg_server)

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self.db.transaction()

    def update_package(self, pkg_id: str, **columns: Any) -> None:
        self.db.update_package(pkg_id, **columns)

    def set_stored(self, pkg_id: str, version: int, path: str) -> None:
        self.db.set_stored(pkg_id, version, path)

    def clear_action(self, pkg_id: str, handled: PackageAction) -> None:
        self.db.clear_package_action(pkg_id, handled)

    def settle_server(self, server: PkgServer, when: float) -> None:
        self.db.settle_pkg_server(server, when)

    def advertisements(self, pkg_id: str | None = None, *,
                       known: bool = False) -> list[Advertisement]:
        return self.db.get_advertisements(pkg_id)

    def put_advertisement(self, advertisement: Advertisement, collection: Collection) -> None:
        with self.db.transaction():
            self.db.put_collection(collection)
            self.db.put_advertisement(advertisement)

    def delete_advertisement(self, advertisement_id: str) -> None:
        self.db.delete_advertisement(advertisement_id)

    def collection(self, collection_id: str) -> Collection | None:
        return self.db.get_collection(collection_id)

    def update_collection(self, collection: Collection) -> bool:
        with self.db.transaction():
            if self.db.get_collection(collection.CollectionID) is None:
                return False
            self.db.put_collection(collection)
        return True


_SUFFIX = ".json"
RECENT_NS = 50_000_000  # a file changed within 50 ms is read again at its next look
COARSE_NS = 10_000_000  # time stamps on whole hundredths of a second: a coarse file system
_FOLDER_LOCKS: dict[Path, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


@attrs.define
class _PackageFile:
    package: Package | None = None
    servers: dict[str, PkgServer] = attrs.Factory(dict)
    status: dict[tuple[int, str, str], PkgStatus] = attrs.Factory(dict)
    offers: dict[str, tuple[Advertisement, Collection]] = attrs.Factory(dict)


Identity = tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns


@attrs.frozen
class _Known:
    """A package file's last reading: which file it was (None: not known, as just after this
    store wrote it), its bytes, and its records."""

    identity: Identity | None
    data: bytes
    records: _PackageFile


def _identity(path: str) -> Identity | None:
    """Which regular file `path` is now, or None (none there, or not a regular file: the read
    says why). A file replaced (a new inode) or written in place (size, times) is another."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _settled(identity: Identity | None) -> Identity | None:
    """The identity, if it can tell this file from a rewrite of it.

    A file system with coarse time stamps can give a file rewritten within one tick, at the
    same size and on an inode just freed, the identity it had before. Ticks of 1 to 4 ms (older
    Linux kernels): a file changed within `RECENT_NS` is not known by its identity. Ticks of a
    second or more (FAT, ext3, HFS+, some network shares): both times fall on whole hundredths
    of a second, which fine stamps almost never do, and such a file is never known by its
    identity. Not known, the next look compares its bytes. The wall clock only decides what to
    trust; the records read are the same either way."""
    if identity is None or time.time_ns() - max(identity[3], identity[4]) < RECENT_NS:
        return None
    if identity[3] % COARSE_NS == 0 and identity[4] % COARSE_NS == 0:
        return None
    return identity


class FileStore:
    """A secondary site's store: one JSON file per package under `SMS/state/packages`.

    Each file is replaced atomically, so a killed site server leaves the old or the new file.
    """

    def __init__(self, folder: Path, durability: Durability = Durability.NONE) -> None:
        self.folder = Path(folder)
        self.durability = durability
        # One lock per folder, shared by every component of the site in this process.
        with _LOCKS_GUARD:
            self._lock = _FOLDER_LOCKS.setdefault(self.folder.resolve(), threading.RLock())
        self._known: dict[str, _Known] = {}  # by upper-case PkgID
        self._folder_text = os.fspath(self.folder)
        # The packages (upper-case IDs) that held advertisements at the last full look of
        # `advertisements`, and those this store gave some since: None before the first.
        self._holding: set[str] | None = None
        # In a transaction, the records of the files it changed, by upper-case PkgID: each is
        # written once, at its end. None outside one.
        self._batch: dict[str, tuple[str, _PackageFile]] | None = None

    def _path(self, pkg_id: str) -> str:
        """As text: each look hands it to an `lstat` (Offer Manager's full look, and Distribution
        Manager's every look at a kept `.PKG`)."""
        return os.path.join(self._folder_text, f"{pkg_id.upper()}{_SUFFIX}")

    def _load(self, pkg_id: str) -> _PackageFile:
        """The package's file as records, a copy: callers change it before `_save`."""
        return _copy(self._view(pkg_id))

    def _view(self, pkg_id: str) -> _PackageFile:
        """The package's file as records, to read only: those read last if the file is the
        same one, unchanged (one `lstat`: Offer Manager's full look reads every package's file,
        and Distribution Manager's every look at a kept `.PKG` reads its package's twice), else
        those read or written last if its bytes are the same, else parsed anew."""
        key = pkg_id.upper()
        if self._batch is not None and key in self._batch:
            return self._batch[key][1]
        path = self._path(key)
        known = self._known.get(key)
        seen = _identity(path)
        if seen is not None and known is not None and known.identity == seen:
            return known.records
        try:
            data = read_limited(path, PACKAGE_STATE_BYTES)
        except FileNotFoundError:
            self._known.pop(key, None)
            return _PackageFile()
        except OSError as e:
            raise FormatError(path, f"cannot read package state: {e}") from None
        # Taken before the read: a file replaced in between is read again at the next look.
        records = known.records if known is not None and known.data == data \
            else self._parse(path, data)
        self._known[key] = _Known(_settled(seen), data, records)
        return records

    @staticmethod
    def _parse(path: str, data: bytes) -> _PackageFile:
        try:
            doc = json.loads(data.decode("utf-8"))
        except ValueError as e:
            raise FormatError(path, f"cannot read package state: {e}") from None
        try:
            return _PackageFile(
                package=Package(**doc["package"]) if doc.get("package") else None,
                servers={s["NALPath"].upper(): PkgServer(**s) for s in doc.get("servers", [])},
                status={_status_key(row): row for row in
                        (PkgStatus(**s) for s in doc.get("status", []))},
                offers={o["advertisement"]["AdvertisementID"].upper(): (
                    Advertisement(**o["advertisement"]), Collection(**o["collection"]))
                    for o in doc.get("advertisements", [])},
            )
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(path, f"package state is not in the expected shape: {e}") from None

    def _save(self, pkg_id: str, data: _PackageFile) -> None:
        """Write the package's file, at the end of the transaction if in one."""
        if self._holding is not None:
            if data.offers:
                self._holding.add(pkg_id.upper())
            else:
                self._holding.discard(pkg_id.upper())
        if self._batch is not None:
            self._batch[pkg_id.upper()] = (pkg_id, data)
        else:
            self._write(pkg_id, data)

    def _write(self, pkg_id: str, data: _PackageFile) -> None:
        """Write the package's file, unless it holds these records already: every caller
        loads it first under the lock, so `_known` has what the file holds now."""
        path = Path(self._path(pkg_id))
        known = self._known.pop(pkg_id.upper(), None)
        if data.package is None and not data.servers and not data.status and not data.offers:
            path.unlink(missing_ok=True)
            return
        if known is not None and known.records == data:
            self._known[pkg_id.upper()] = known
            return
        doc: dict[str, Any] = {
            "package": _fields(data.package) if data.package else None,
            "servers": [_fields(s) for _, s in sorted(data.servers.items())],
            "status": [_fields(s) for _, s in sorted(data.status.items())],
        }
        if data.offers:  # only then, so the files of packages without any stay as they were
            doc["advertisements"] = [{"advertisement": _fields(a), "collection": _fields(c)}
                                     for _, (a, c) in sorted(data.offers.items())]
        text = _dumps(doc).encode("utf-8")
        tmp = path.with_suffix(".json.TMP")
        try:
            replace_file(path, text, self.durability, tmp=tmp)
        except FileNotFoundError:  # no folder yet (the site's first package): made only then
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_file(path, text, self.durability, tmp=tmp)
        # The next `_load` need not parse; it reads the file once to learn its identity.
        self._known[pkg_id.upper()] = _Known(None, text, _copy(data))

    def package_ids(self) -> list[str]:
        """The packages that have a file here: `<PkgID>.json`, in the file system's case rule
        (any case on Windows). A folder that cannot be listed has none, as a glob finds none."""
        try:
            names = os.listdir(self.folder)
        except OSError:
            return []
        return sorted(name[:-len(_SUFFIX)] for name in names
                      if len(name) > len(_SUFFIX) and os.path.normcase(name).endswith(_SUFFIX))

    def package(self, pkg_id: str) -> Package | None:
        with self._lock:
            return self._view(pkg_id).package

    def put_package(self, package: Package) -> None:
        with self._lock:
            data = self._load(package.PkgID)
            data.package = package
            self._save(package.PkgID, data)

    def delete_package(self, pkg_id: str) -> None:
        with self._lock:
            self._known.pop(pkg_id.upper(), None)
            if self._batch is not None:
                self._batch.pop(pkg_id.upper(), None)
            Path(self._path(pkg_id)).unlink(missing_ok=True)

    def servers(self, pkg_id: str) -> list[PkgServer]:
        with self._lock:
            return [s for _, s in sorted(self._view(pkg_id).servers.items())]

    def has_server(self, pkg_id: str, nal_path: str) -> bool:
        with self._lock:
            return nal_path.upper() in self._view(pkg_id).servers

    def put_server(self, server: PkgServer) -> None:
        with self._lock:
            data = self._load(server.PkgID)
            data.servers[server.NALPath.upper()] = server
            self._save(server.PkgID, data)

    def delete_server(self, pkg_id: str, nal_path: str) -> None:
        with self._lock:
            data = self._load(pkg_id)
            data.servers.pop(nal_path.upper(), None)
            self._save(pkg_id, data)

    def statuses(self, pkg_id: str, *, status_type: StatusType | None = None,
                 site_code: str | None = None) -> list[PkgStatus]:
        with self._lock:
            rows = [s for _, s in sorted(self._view(pkg_id).status.items())]
        return [r for r in rows
                if (status_type is None or r.Type == status_type)
                and (site_code is None or r.SiteCode.upper() == site_code.upper())]

    def put_status(self, status: PkgStatus) -> bool:
        """Same rule as the database: a report older than the stored SourceVersion is stale."""
        with self._lock:
            data = self._load(status.ID)
            key = _status_key(status)
            old = data.status.get(key)
            if old is not None and status.SourceVersion < old.SourceVersion:
                return False
            data.status[key] = status
            self._save(status.ID, data)
            return True

    def delete_status(self, pkg_id: str, status_type: StatusType, site_code: str,
                      pkg_server: str) -> None:
        with self._lock:
            data = self._load(pkg_id)
            data.status.pop((int(status_type), site_code.upper(), pkg_server.upper()), None)
            self._save(pkg_id, data)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Each write is already atomic per package; this serialises writers, and writes
        each file it changes once, at its end (a copy registered: the stored columns and the
        Type 1 row together). Its changes are read back within it; the folder's listing is
        the files'. Nested use joins the outer transaction. A failure in it still writes what
        it changed before, as each write alone did, and is what the caller sees."""
        with self._lock:
            if self._batch is not None:
                yield
                return
            self._batch = {}
            try:
                yield
            except BaseException:
                self._write_batch()  # its own failure, if any, is dropped for the body's
                raise
            failed = self._write_batch()
            if failed is not None:
                raise failed

    def _write_batch(self) -> Exception | None:
        """Write every file the transaction changed, each whatever became of the others;
        returns the first failure."""
        batch, self._batch = self._batch or {}, None
        failed = None
        for pkg_id, data in batch.values():
            try:
                self._write(pkg_id, data)
            except Exception as e:  # the others are still written
                failed = failed or e
        return failed

    def update_package(self, pkg_id: str, **columns: Any) -> None:
        with self._lock:
            data = self._load(pkg_id)
            if data.package is not None:
                data.package = attrs.evolve(data.package, **columns)
                self._save(pkg_id, data)

    def set_stored(self, pkg_id: str, version: int, path: str) -> None:
        with self._lock:
            data = self._load(pkg_id)
            if data.package is not None and data.package.StoredPkgVersion <= version:
                data.package = attrs.evolve(data.package, StoredPkgVersion=version,
                                            StoredPkgPath=path)
                self._save(pkg_id, data)

    def clear_action(self, pkg_id: str, handled: PackageAction) -> None:
        with self._lock:
            data = self._load(pkg_id)
            if data.package is not None and data.package.Action == handled:
                data.package = attrs.evolve(data.package, Action=PackageAction.NONE,
                                            UpdateMask=0)
                self._save(pkg_id, data)

    def settle_server(self, server: PkgServer, when: float) -> None:
        with self._lock:
            data = self._load(server.PkgID)
            row = data.servers.get(server.NALPath.upper())
            if row is not None and (row.Action, row.RefreshTrigger) == (server.Action,
                                                                        server.RefreshTrigger):
                data.servers[server.NALPath.upper()] = attrs.evolve(
                    row, Action=PackageAction.NONE, RefreshTrigger=0, LastRefresh=when)
                self._save(server.PkgID, data)


    def advertisements(self, pkg_id: str | None = None, *,
                       known: bool = False) -> list[Advertisement]:
        """Those of one package, of every package (a full look: every file read), or, `known`,
        of the packages that held some at the last full look or were given some by this store
        since. Those files are read again, so an advertisement another writer removed (a
        package deleted by Distribution Manager) is gone; only one that another writer added
        waits for the next full look. Offer Manager's passes look at `known` ones: reading
        every package's file at every pass cost the square of the packages."""
        with self._lock:
            full = pkg_id is None and not (known and self._holding is not None)
            if full:
                ids = self.package_ids()
            elif pkg_id is None:
                ids = sorted(self._holding or ())
            else:
                ids = [pkg_id]
            views = [(i, self._view(i)) for i in ids]
            if full:
                self._holding = {i.upper() for i, view in views if view.offers}
            found = [a for _, view in views for a, _ in view.offers.values()]
        return sorted(found, key=lambda a: a.AdvertisementID.upper())

    def put_advertisement(self, advertisement: Advertisement, collection: Collection) -> None:
        """One pass over the package files: the advertisement leaves another package's file
        (its package may differ), and the collection as it brings it, the latest, replaces the
        copies kept with the site's other advertisements of it (a primary keeps one
        Collections row)."""
        adv_id, home = advertisement.AdvertisementID.upper(), advertisement.PackageID.upper()
        with self._lock:
            for pkg_id in sorted({*self.package_ids(), advertisement.PackageID}):
                data = self._load(pkg_id)
                before = dict(data.offers)
                if pkg_id.upper() == home:
                    data.offers[adv_id] = (advertisement, collection)
                else:
                    data.offers.pop(adv_id, None)
                _keep(data, collection)
                if data.offers != before:
                    self._save(pkg_id, data)

    def delete_advertisement(self, advertisement_id: str) -> None:
        with self._lock:
            for pkg_id in self.package_ids():
                data = self._load(pkg_id)
                if data.offers.pop(advertisement_id.upper(), None) is not None:
                    self._save(pkg_id, data)

    def collection(self, collection_id: str) -> Collection | None:
        """The collection as the latest advertisement that targets it brought it (every copy
        says the same: put_advertisement)."""
        with self._lock:
            found = [c for i in self.package_ids() for _, c in self._view(i).offers.values()
                     if c.CollectionID.upper() == collection_id.upper()]
        return found[-1] if found else None

    def update_collection(self, collection: Collection) -> bool:
        """The copies kept with the site's advertisements of the collection take its new facts;
        with no advertisement of it here there is nowhere to keep it."""
        held = False
        with self._lock:
            for pkg_id in self.package_ids():
                data = self._load(pkg_id)
                before = dict(data.offers)
                held = _keep(data, collection) or held
                if data.offers != before:
                    self._save(pkg_id, data)
        return held


def _keep(data: _PackageFile, collection: Collection) -> bool:
    """Put `collection` in place of the copies of it kept with `data`'s advertisements; whether
    any of them targets it."""
    targeting = {key: (adv, collection) for key, (adv, kept) in data.offers.items()
                 if kept.CollectionID.upper() == collection.CollectionID.upper()}
    data.offers.update(targeting)
    return bool(targeting)


def open_store(layout: SiteLayout, db: SiteDatabase | None, durability: Durability) -> PackageStore:
    """The site's store: its database at a primary, its state files at a secondary."""
    if db is not None:
        return DatabaseStore(db)
    return FileStore(layout.state_dir / "packages", durability)


def _copy(data: _PackageFile) -> _PackageFile:
    """Records a caller may change without changing the store's own (the records are frozen,
    the dicts are not)."""
    return _PackageFile(data.package, dict(data.servers), dict(data.status), dict(data.offers))


def _status_key(row: PkgStatus) -> tuple[int, str, str]:
    return (int(row.Type), row.SiteCode.upper(), row.PkgServer.upper())


# json's encoders of a record's fields on the lines of `_dumps`'s layout, at depths 2 and 3.
_FIELDS_2 = json.JSONEncoder(sort_keys=True, separators=(",\n  ", ": "))
_FIELDS_3 = json.JSONEncoder(sort_keys=True, separators=(",\n   ", ": "))


def _dumps(doc: dict[str, Any]) -> str:
    """`json.dumps(doc, indent=1, sort_keys=True)`, the text the files have always held.

    With `indent` set json encodes in Python, a generator per dict and list. A document
    without advertisements is a record and two lists of records (flat dicts of scalars, each
    with fields): json's C encoder writes each whole with the layout's separator between
    fields, and the lines around records are put in. Records of a list meet only at
    `},<separator>{`: no encoded scalar ends with `}` or starts with `{`, and no encoded text
    holds a line break."""
    if "advertisements" in doc:  # the few files of packages advertised at a secondary
        return json.dumps(doc, indent=1, sort_keys=True)
    package = doc["package"]
    shown = "null" if package is None else f"{{\n  {_FIELDS_2.encode(package)[1:-1]}\n }}"
    return (f'{{\n "package": {shown},\n "servers": {_records(doc["servers"])},\n'
            f' "status": {_records(doc["status"])}\n}}')


def _records(records: list[dict[str, Any]]) -> str:
    """A list of records at the document's second level, as `_dumps` lays it out."""
    if not records:
        return "[]"
    body = _FIELDS_3.encode(records)[2:-2].replace("},\n   {", "\n  },\n  {\n   ")
    return f"[\n  {{\n   {body}\n  }}\n ]"


def _fields(record: Any) -> dict[str, Any]:
    """A record's fields by name; json writes an IntEnum (an int subclass) as its int."""
    return attrs.asdict(record, recurse=False)
