"""A primary's database and a secondary's state files keep package facts the same way."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesrv.db import pkgstore
from sitesrv.db.pkgstore import DatabaseStore, FileStore, PackageStore
from sitesrv.db.sitedb import (
    Advertisement,
    Collection,
    Package,
    PackageAction,
    PackageStatus,
    PkgServer,
    PkgStatus,
    Site,
    SiteDatabase,
    SiteType,
    StatusType,
)

NAL = 'MSWNET:["SMS_SITE=S01"]\\\\SEC01\\SMSPKGC$\\'


@pytest.fixture(params=["database", "files"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PackageStore]:
    if request.param == "files":
        yield FileStore(tmp_path / "state" / "packages")
        return
    db = SiteDatabase.create(tmp_path / "site.db")
    db.put_site(Site(SiteCode="S01", SiteServer="SEC01", Type=SiteType.SECONDARY))
    yield DatabaseStore(db)
    db.close()


def test_package_round_trip(store: PackageStore) -> None:
    pkg = Package(PkgID="ZZZ00001", SourceSite="ZZZ", Name="Demo", SourceVersion=3,
                  StoredPkgVersion=1, LastRefresh=1181000000.123)
    store.put_package(pkg)
    assert store.package("zzz00001") == pkg
    assert store.package_ids() == ["ZZZ00001"]


def test_servers_and_status(store: PackageStore) -> None:
    store.put_package(Package(PkgID="ZZZ00001", SourceSite="ZZZ"))
    server = PkgServer(PkgID="ZZZ00001", NALPath=NAL, SiteCode="S01")
    store.put_server(server)
    assert store.servers("ZZZ00001") == [server]
    # One row looked at (Distribution Manager's check of a DP's status at the source): the NAL
    # path compared without regard to case, as `servers` keys them.
    assert store.has_server("ZZZ00001", NAL) and store.has_server("ZZZ00001", NAL.lower())
    assert not store.has_server("ZZZ00001", NAL.replace("SEC01", "SEC02"))
    assert not store.has_server("ZZZ00002", NAL)
    row = PkgStatus(ID="ZZZ00001", Type=StatusType.COPY, SiteCode="S01", PkgServer=NAL,
                    Status=PackageStatus.INSTALLED, UpdateTime=1181000000.0, SourceVersion=2)
    assert store.put_status(row)
    stale = PkgStatus(ID="ZZZ00001", Type=StatusType.COPY, SiteCode="S01", PkgServer=NAL,
                      Status=PackageStatus.RETRY, UpdateTime=1181000001.0, SourceVersion=1)
    assert not store.put_status(stale), "an older SourceVersion must not win (Q318834)"
    assert store.statuses("ZZZ00001", status_type=StatusType.COPY) == [row]
    assert store.statuses("ZZZ00001", status_type=StatusType.MASTER) == []
    store.delete_status("ZZZ00001", StatusType.COPY, "S01", NAL)
    assert store.statuses("ZZZ00001") == []
    store.delete_server("ZZZ00001", NAL)
    assert store.servers("ZZZ00001") == [] and not store.has_server("ZZZ00001", NAL)


def test_delete_package_removes_everything(store: PackageStore) -> None:
    store.put_package(Package(PkgID="ZZZ00001", SourceSite="ZZZ"))
    store.put_server(PkgServer(PkgID="ZZZ00001", NALPath=NAL, SiteCode="S01"))
    store.delete_package("ZZZ00001")
    assert store.package("ZZZ00001") is None and store.servers("ZZZ00001") == []
    assert store.package_ids() == []


def test_file_store_corrupt_state_is_a_format_error(tmp_path: Path) -> None:
    from sitesrv.errors import FormatError

    folder = tmp_path / "packages"
    folder.mkdir()
    (folder / "ZZZ00001.json").write_text("{not json")
    with pytest.raises(FormatError, match="ZZZ00001.json"):
        FileStore(folder).package("ZZZ00001")


def test_column_level_changes_leave_other_columns_alone(store: PackageStore) -> None:
    from sitesrv.db.sitedb import PackageAction

    store.put_package(Package(PkgID="ZZZ00001", SourceSite="ZZZ", Source="/old",
                              Action=PackageAction.ADD, SourceVersion=1))
    store.update_package("ZZZ00001", Source="/new")  # a person's change meanwhile
    store.update_package("ZZZ00001", SourceVersion=2, LastRefresh=1181000000.5)
    store.set_stored("ZZZ00001", 2, "\\\\S\\SMS_CPSF$\\ZZZ00001.PCK")
    store.set_stored("ZZZ00001", 1, "old")  # never lowers
    store.clear_action("ZZZ00001", PackageAction.UPDATE)  # not the pending action: kept
    got = store.package("ZZZ00001")
    assert got is not None
    assert (got.Source, got.SourceVersion, got.LastRefresh, got.StoredPkgVersion,
            got.StoredPkgPath, got.Action) == (
        "/new", 2, 1181000000.5, 2, "\\\\S\\SMS_CPSF$\\ZZZ00001.PCK", PackageAction.ADD)
    store.clear_action("ZZZ00001", PackageAction.ADD)
    assert store.package("ZZZ00001").Action == PackageAction.NONE  # type: ignore[union-attr]


def test_settle_server_only_clears_what_was_handled(store: PackageStore) -> None:
    from sitesrv.db.sitedb import PackageAction

    store.put_package(Package(PkgID="ZZZ00001", SourceSite="ZZZ"))
    handled = PkgServer(PkgID="ZZZ00001", NALPath=NAL, SiteCode="S01", Action=PackageAction.ADD)
    store.put_server(handled)
    store.put_server(attrs.evolve(handled, RefreshTrigger=1))  # refreshed meanwhile
    store.settle_server(handled, 1181000000.0)
    assert store.servers("ZZZ00001")[0].RefreshTrigger == 1, "the newer request survives"
    store.settle_server(attrs.evolve(handled, RefreshTrigger=1), 1181000000.0)
    row = store.servers("ZZZ00001")[0]
    assert (row.Action, row.RefreshTrigger, row.LastRefresh) == (
        PackageAction.NONE, 0, 1181000000.0)


def test_advertisements_are_kept_with_their_collection_and_go_with_their_package(
        store: PackageStore) -> None:
    adv = Advertisement(AdvertisementID="ZZZ20000", PackageID="ZZZ00001", ProgramName="Setup",
                        CollectionID="ZZZ10000", SourceSite="ZZZ", PresentTime=1181000000.0)
    collection = Collection(CollectionID="ZZZ10000", Name="All", MemberCount=3, SourceSite="ZZZ")
    store.put_advertisement(adv, collection)  # before the package's information, as it may come
    store.put_package(Package(PkgID="ZZZ00001", SourceSite="ZZZ"))
    assert store.advertisements() == [adv] == store.advertisements("ZZZ00001")
    assert store.collection("zzz10000") == collection
    store.put_advertisement(adv, attrs.evolve(collection, MemberCount=0))
    assert store.collection("ZZZ10000").MemberCount == 0
    store.delete_advertisement("zzz20000")
    assert store.advertisements() == []
    store.put_advertisement(adv, collection)
    store.delete_package("ZZZ00001")
    assert store.advertisements() == [], "Q257318: a deleted package's advertisements go too"


def test_known_advertisements_are_those_a_full_look_found_or_this_store_gave(
        tmp_path: Path) -> None:
    """Offer Manager's passes at a secondary read only the files of the packages known to hold
    advertisements (reading every package's file at every pass cost the square of the
    packages): what this store writes is seen at once, and so is a removal by another writer
    (Distribution Manager deleting a package, Q257318); one another writer adds waits for the
    next full look."""
    folder = tmp_path / "packages"
    offers, other = FileStore(folder), FileStore(folder)  # Offer Manager's and another's
    adv = Advertisement(AdvertisementID="ZZZ20000", PackageID="ZZZ00001", ProgramName="Setup",
                        CollectionID="ZZZ10000", SourceSite="ZZZ", PresentTime=1181000000.0)
    collection = Collection(CollectionID="ZZZ10000", Name="All", MemberCount=3, SourceSite="ZZZ")
    for i in range(1, 4):
        other.put_package(Package(PkgID=f"ZZZ0000{i}", SourceSite="ZZZ"))
    assert offers.advertisements(known=True) == []  # the first look is a full one
    offers.put_advertisement(adv, collection)
    assert offers.advertisements(known=True) == [adv]
    late = attrs.evolve(adv, AdvertisementID="ZZZ20001", PackageID="ZZZ00003")
    other.put_advertisement(late, collection)
    assert offers.advertisements(known=True) == [adv]
    assert offers.advertisements() == [adv, late]  # a full look finds it
    assert offers.advertisements(known=True) == [adv, late]
    other.delete_package("ZZZ00001")
    assert offers.advertisements(known=True) == [late]


def _file_state(path: Path) -> tuple[int, int, bytes]:
    """Which file is there (a rewrite replaces it: a new inode), when written, and its bytes."""
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, path.read_bytes()


def test_file_store_leaves_a_file_that_already_holds_the_records(tmp_path: Path) -> None:
    """Distribution Manager looks at a kept `.PKG` again and again: writing what the file
    already says must not rewrite it; a real change still does."""
    from sitesrv.db.sitedb import PackageAction

    store = FileStore(tmp_path / "packages")
    package = Package(PkgID="ZZZ00001", SourceSite="ZZZ", Name="Demo", SourceVersion=1,
                      LastRefresh=1181000000.125)
    server = PkgServer(PkgID="ZZZ00001", NALPath=NAL, SiteCode="S01", SourceSite="ZZZ")
    store.put_package(package)
    store.put_server(server)
    path = tmp_path / "packages" / "ZZZ00001.json"
    before = _file_state(path)
    store.put_package(package)
    store.put_server(server)
    store.update_package("ZZZ00001", Name="Demo", SourceVersion=1)
    store.delete_server("ZZZ00001", "\\\\NOT\\THERE\\")
    store.clear_action("ZZZ00001", PackageAction.NONE)
    assert _file_state(path) == before
    assert FileStore(path.parent).package("ZZZ00001") == package
    store.update_package("ZZZ00001", SourceVersion=2)
    after = _file_state(path)
    assert after[0] != before[0] and b'"SourceVersion": 2' in after[2]
    assert FileStore(path.parent).package("ZZZ00001") == attrs.evolve(package, SourceVersion=2)
    assert store.servers("ZZZ00001") == [server]


def test_file_store_writes_again_what_went_away_or_changed_behind_it(tmp_path: Path) -> None:
    """What the store wrote last is only a shortcut: a file deleted, or changed by another
    writer, since is read again, and the same records written again are really written."""
    store = FileStore(tmp_path / "packages")
    package = Package(PkgID="ZZZ00001", SourceSite="ZZZ", Name="Demo")
    path = tmp_path / "packages" / "ZZZ00001.json"
    store.put_package(package)
    path.unlink()  # behind the store's back
    store.put_package(package)
    assert FileStore(path.parent).package("ZZZ00001") == package
    store.delete_package("ZZZ00001")
    store.put_package(package)
    assert FileStore(path.parent).package("ZZZ00001") == package
    FileStore(path.parent).update_package("ZZZ00001", Name="Changed")  # another writer
    assert store.package("ZZZ00001") == attrs.evolve(package, Name="Changed")
    store.put_package(package)
    assert FileStore(path.parent).package("ZZZ00001") == package



def test_file_store_sees_a_file_edited_in_place(tmp_path: Path) -> None:
    """A reading is reused only for the very file it read: one written in place since (the
    same inode, as a person's editor may) is read again, even with the same size, as soon as
    its modification time differs."""
    store = FileStore(tmp_path / "packages")
    package = Package(PkgID="ZZZ00001", SourceSite="ZZZ", Name="Demo")
    path = tmp_path / "packages" / "ZZZ00001.json"
    store.put_package(package)
    assert store.package("ZZZ00001") == package  # read once: its identity is known now
    assert store.package("ZZZ00001") == package
    inode = path.stat().st_ino
    with path.open("r+b") as f:  # in place, one byte longer
        text = f.read().replace(b'"Demo"', b'"Demo2"')
        f.seek(0)
        f.write(text)
    assert path.stat().st_ino == inode
    assert store.package("ZZZ00001") == attrs.evolve(package, Name="Demo2")
    before = path.stat()
    with path.open("r+b") as f:  # in place, the same size
        text = f.read().replace(b'"Demo2"', b'"Demo3"')
        f.seek(0)
        f.write(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert path.stat().st_size == before.st_size
    assert store.package("ZZZ00001") == attrs.evolve(package, Name="Demo3")

def test_file_store_reads_again_a_file_changed_within_a_time_stamp_tick(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a file system with coarse time stamps a rewrite can keep the file's identity (the
    freed inode again, the same size and times). A file changed within `RECENT_NS` is not known
    by its identity, so such a rewrite is seen."""
    store = FileStore(tmp_path / "packages")
    package = Package(PkgID="ZZZ00001", SourceSite="ZZZ", Name="Demo")
    path = tmp_path / "packages" / "ZZZ00001.json"
    store.put_package(package)
    now = time.time_ns()
    monkeypatch.setattr(pkgstore, "_identity", lambda _: (1, 2, 3, now, now))  # never changes
    assert store.package("ZZZ00001") == package
    path.write_bytes(path.read_bytes().replace(b'"Demo"', b'"Dem2"'))
    assert store.package("ZZZ00001") == attrs.evolve(package, Name="Dem2")
    # The same rewrite of a file last changed long before is trusted to be the file read.
    old = now - 10 * pkgstore.RECENT_NS
    monkeypatch.setattr(pkgstore, "_identity", lambda _: (1, 2, 3, old, old))
    assert store.package("ZZZ00001") == attrs.evolve(package, Name="Dem2")
    path.write_bytes(path.read_bytes().replace(b'"Dem2"', b'"Dem3"'))
    assert store.package("ZZZ00001") == attrs.evolve(package, Name="Dem2")


def test_file_store_never_trusts_the_identity_of_a_file_on_coarse_time_stamps(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FAT, ext3 and HFS+ keep whole seconds: a file written a moment ago shows a stamp
    already older than RECENT_NS, and a same-size rewrite within that second keeps the whole
    identity. Times on whole hundredths of a second are taken as such a file system's."""
    store = FileStore(tmp_path / "packages")
    package = Package(PkgID="ZZZ00001", SourceSite="ZZZ", Name="Demo")
    path = tmp_path / "packages" / "ZZZ00001.json"
    store.put_package(package)
    second = time.time_ns() // 10**9 * 10**9 - 10**9
    monkeypatch.setattr(pkgstore, "_identity", lambda _: (1, 2, 3, second, second))
    assert store.package("ZZZ00001") == package
    path.write_bytes(path.read_bytes().replace(b'"Demo"', b'"Dem2"'))  # same tick, same size
    assert store.package("ZZZ00001") == attrs.evolve(package, Name="Dem2")


def test_file_store_writes_a_file_changed_in_a_transaction_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy registered sets the stored columns and the Type 1 row together: one write at the
    transaction's end, its changes read back before it. A failure in it, or a deletion, leaves
    the file as the same writes one by one would."""
    store = FileStore(tmp_path / "packages")
    package = Package(PkgID="ZZZ00001", SourceSite="ZZZ", Name="Demo")
    path = tmp_path / "packages" / "ZZZ00001.json"
    store.put_package(package)
    writes: list[Path] = []
    real = pkgstore.replace_file
    monkeypatch.setattr(pkgstore, "replace_file", lambda dest, *a, **k: (
        writes.append(dest), real(dest, *a, **k)))
    row = PkgStatus(ID="ZZZ00001", Type=StatusType.MASTER, SiteCode="S01", PkgServer="SEC01",
                    Status=PackageStatus.RECEIVED, UpdateTime=1181000000.5, SourceVersion=1)
    with store.transaction():
        store.set_stored("ZZZ00001", 1, "\\\\SEC01\\SMS_CPSC$\\ZZZ00001.PCK")
        assert store.put_status(row)
        with store.transaction():  # joins the outer one
            assert not store.put_status(attrs.evolve(row, SourceVersion=0))  # stale
        assert store.package("ZZZ00001").StoredPkgVersion == 1
        assert store.statuses("ZZZ00001") == [row] and writes == []
    assert writes == [path]
    stored = attrs.evolve(package, StoredPkgVersion=1,
                          StoredPkgPath="\\\\SEC01\\SMS_CPSC$\\ZZZ00001.PCK")
    assert FileStore(path.parent).package("ZZZ00001") == stored
    assert FileStore(path.parent).statuses("ZZZ00001") == [row]
    with pytest.raises(RuntimeError), store.transaction():
        store.update_package("ZZZ00001", Name="Changed")
        raise RuntimeError("a failure after a change")
    assert FileStore(path.parent).package("ZZZ00001") == attrs.evolve(stored, Name="Changed")
    with store.transaction():
        store.update_package("ZZZ00001", Name="Gone")
        store.delete_package("ZZZ00001")
        assert not path.exists() and store.package("ZZZ00001") is None
        store.put_status(row)  # a row kept after the deletion (a DP's pending removal)
    assert FileStore(path.parent).package("ZZZ00001") is None
    assert FileStore(path.parent).statuses("ZZZ00001") == [row]


def test_a_transaction_writes_every_file_it_changed_when_one_write_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first write that fails is what the caller sees, after every other file was written;
    a failure of the body is what the caller sees whatever became of the writes."""
    store = FileStore(tmp_path / "packages")
    real = pkgstore.replace_file

    def failing_first(dest: Path, *a: object, **k: object) -> None:
        if Path(dest).name == "ZZZ00001.json":
            raise OSError(28, "No space left on device")
        real(dest, *a, **k)

    monkeypatch.setattr(pkgstore, "replace_file", failing_first)
    with pytest.raises(OSError, match="No space"), store.transaction():
        store.put_package(Package(PkgID="ZZZ00001", SourceSite="ZZZ", Name="One"))
        store.put_package(Package(PkgID="ZZZ00002", SourceSite="ZZZ", Name="Two"))
    with pytest.raises(RuntimeError), store.transaction():
        store.put_package(Package(PkgID="ZZZ00001", SourceSite="ZZZ", Name="One"))
        store.put_package(Package(PkgID="ZZZ00003", SourceSite="ZZZ", Name="Three"))
        raise RuntimeError("the body's own failure")
    assert FileStore(tmp_path / "packages").package_ids() == ["ZZZ00002", "ZZZ00003"]


def test_file_store_lists_the_packages_of_its_files_only(tmp_path: Path) -> None:
    """A temp file of a write in flight, or anything else in the folder, is no package."""
    folder = tmp_path / "packages"
    assert FileStore(folder).package_ids() == []  # no folder yet
    store = FileStore(folder)
    for pkg_id in ("ZZZ00002", "ZZZ00001"):
        store.put_package(Package(PkgID=pkg_id, SourceSite="ZZZ"))
    (folder / "ZZZ00003.json.TMP").write_text("{")
    (folder / "notes.txt").write_text("a person's")
    assert store.package_ids() == ["ZZZ00001", "ZZZ00002"]
    assert FileStore(folder / "notes.txt").package_ids() == []  # a file, not a folder
    (folder / ".json").write_text("{}")  # no package ID before the suffix
    assert store.package_ids() == ["ZZZ00001", "ZZZ00002"]


# Any text (lone surrogates too), any int, any float (NaN and the infinities too), bools, None.
_TEXT = st.text(st.characters(exclude_categories=()))
_SCALARS = st.one_of(_TEXT, st.integers(), st.floats(), st.booleans(), st.none())
# Records as `_fields` gives them (IntEnums as they are), and dicts of any text keys and scalars.
_RECORDS = st.one_of(
    st.builds(Package, PkgID=_TEXT, SourceSite=_TEXT, Name=_TEXT, LastRefresh=st.floats(),
              SourceSize=st.integers(), Action=st.sampled_from(PackageAction)).map(pkgstore._fields),
    st.builds(PkgServer, PkgID=_TEXT, NALPath=_TEXT, SiteCode=_TEXT,
              LastRefresh=st.floats(), Action=st.sampled_from(PackageAction)).map(pkgstore._fields),
    st.builds(PkgStatus, ID=_TEXT, Type=st.sampled_from(StatusType), SiteCode=_TEXT,
              PkgServer=_TEXT, Status=st.sampled_from(PackageStatus), UpdateTime=st.floats(),
              SourceVersion=st.integers()).map(pkgstore._fields),
    st.dictionaries(_TEXT, _SCALARS, min_size=1),
)


@given(package=st.none() | _RECORDS, servers=st.lists(_RECORDS, max_size=4),
       status=st.lists(_RECORDS, max_size=4),
       offers=st.none() | st.lists(st.fixed_dictionaries(
           {"advertisement": _RECORDS, "collection": _RECORDS}), max_size=2))
def test_file_store_writes_the_text_json_dumps_writes(
        package: dict[str, object] | None, servers: list[dict[str, object]],
        status: list[dict[str, object]], offers: list[dict[str, object]] | None) -> None:
    """The files' bytes are those `json.dumps(doc, indent=1, sort_keys=True)` has always
    written (fingerprints hash them) of the records with their IntEnums as ints, whatever
    text, numbers and flags the records hold."""
    doc: dict[str, object] = {"package": package, "servers": servers, "status": status}
    if offers is not None:
        doc["advertisements"] = offers
    assert pkgstore._dumps(doc) == json.dumps(_as_ints(doc), indent=1, sort_keys=True)


def _as_ints(value: object) -> object:
    """The document as the files' records were once given to json: IntEnums made ints."""
    if isinstance(value, dict):
        return {k: _as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_ints(v) for v in value]
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else value
