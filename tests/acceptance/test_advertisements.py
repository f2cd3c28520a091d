"""Advertisements: Offer Manager's files in offerinf.box and every CAP, at every site, only once
a DP of the site holds the package and the collection has clients; gone with the package
(step mode, one live test)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.admin import advertisements, console
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.db.sitedb import SiteDatabase
from sitesrv.errors import UserError
from sitesrv.formats import offer
from sitesrv.testing import (
    assert_in_order,
    log_messages,
    query,
    running,
    wait_for,
    write_source,
)
from tests.acceptance.conftest import ALL_DPS, create, dp_folder
from tests.hostile.test_fifos_and_long_names import run_with_deadline

SITES = ("ZZZ", "P00", "S01")
THREE = ["ZZZ20000.ins", "ZZZ20000.lkp", "ZZZ20000.ofr"]


def offered(lab: Lab, site: str) -> list[str]:
    return sorted(p.name for p in lab.site(site).inbox("offerinf.box").iterdir())


def in_cap(lab: Lab, site: str) -> list[str]:
    return sorted(p.name for p in (lab.site(site).cap / "offerinf.box").iterdir())


def client_sources(lab: Lab, site: str) -> list[str]:
    folder = lab.site(site).inbox("clicfg.src")
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def advertise(lab: Lab, pkg_id: str, clients: int = 3) -> tuple[str, str]:
    collection = advertisements.create_collection(lab, "ZZZ", name="All Systems",
                                                  clients=clients)
    adv = advertisements.create_advertisement(lab, "ZZZ", package_id=pkg_id, program="Setup",
                                              collection_id=collection)
    return adv, collection


def test_an_advertisement_reaches_offerinf_box_and_the_cap_at_every_site(
        lab: Lab, tmp_path: Path) -> None:
    pkg_id = create(lab, write_source(tmp_path / "src"))
    adv, collection = advertise(lab, pkg_id)
    assert (adv, collection) == ("ZZZ20000", "ZZZ10000")
    assert lab.run_until_idle(seed=11).status == "idle"
    for site in SITES:
        assert offered(lab, site) == THREE, site
        assert in_cap(lab, site) == THREE, site
        record = offer.OFFER.read(lab.site(site).inbox("offerinf.box") / "ZZZ20000.ofr")
        assert (record.package_id, record.program_name, record.collection_id) == (
            pkg_id, "Setup", collection)
        lookup = offer.LOOKUP.read(lab.site(site).cap / "offerinf.box" / "ZZZ20000.lkp")
        assert lookup.recipients == (offer.Recipient(collection_id=collection, member_count=3),)
    assert query(lab, "P00", "SELECT AdvertisementID, PackageID, CollectionID, SourceSite "
                             "FROM Advertisements") == [(adv, pkg_id, collection, "ZZZ")]
    assert query(lab, "P00", "SELECT MemberCount FROM Collections") == [(3,)]
    assert_in_order(log_messages(lab, "ZZZ", "smsdbmon.log"), [
        "Received notification: Table=OFFERNOTIFICATION, Type=INSERT, KeyName=ZZZ20000.",
        "Created notification file E:\\SMS\\inboxes\\offermgr.box\\ZZZ20000.OFN",
    ])
    assert_in_order(log_messages(lab, "ZZZ", "offermgr.log"), [
        "Processing file E:\\SMS\\inboxes\\offermgr.box\\ZZZ20000.OFN.",
        "Sent advertisement ZZZ20000 (ADD) to site P00",
        "Sent advertisement ZZZ20000 (ADD) to site S01",
    ])
    assert_in_order(log_messages(lab, "S01", "offermgr.log"), [
        "Updated replicated advertisement ZZZ20000 of package ZZZ00001 from site ZZZ",
        "Advertisement ZZZ20000 is offered to the 3 client(s) of collection ZZZ10000",
        "Wrote E:\\SMS\\inboxes\\offerinf.box\\ZZZ20000.ofr",
    ])
    assert_in_order(log_messages(lab, "S01", "inboxmgr.log"), [
        "Copied E:\\SMS\\inboxes\\offerinf.box\\ZZZ20000.ofr to "
        "\\\\SEC01\\CAP_S01\\offerinf.box\\ZZZ20000.ofr",
    ])


def test_no_files_before_a_dp_of_the_site_holds_the_package_nor_instructions_before_clients(
        lab: Lab, tmp_path: Path) -> None:
    pkg_id = create(lab, write_source(tmp_path / "src"), dps=["ZZZ:MGMT01"])
    _, collection = advertise(lab, pkg_id, clients=0)
    assert lab.run_until_idle(seed=12).status == "idle"
    assert offered(lab, "ZZZ") == ["ZZZ20000.ofr"] == in_cap(lab, "ZZZ"), \
        "no client instruction files until the collection has clients"
    for site in ("P00", "S01"):
        assert offered(lab, site) == [] == in_cap(lab, site), site
        assert "Advertisement ZZZ20000 is not offered yet: package ZZZ00001 is not on a " \
               "distribution point of this site" in log_messages(lab, site, "offermgr.log")
    console.add_dp(lab, pkg_id, "P00:REMOTE_DP")
    advertisements.set_clients(lab, collection, 5)
    assert lab.run_until_idle(seed=13).status == "idle"
    assert dp_folder(lab, "P00", pkg_id).is_dir()
    for site in ("ZZZ", "P00"):
        assert offered(lab, site) == THREE == in_cap(lab, site), site
    assert offered(lab, "S01") == [] == in_cap(lab, "S01"), "S01 still has no DP of it"


def test_deleting_the_package_deletes_its_advertisements_everywhere(lab: Lab,
                                                                    tmp_path: Path) -> None:
    pkg_id = create(lab, write_source(tmp_path / "src"))
    advertise(lab, pkg_id)
    assert lab.run_until_idle(seed=14).status == "idle"
    state = lab.site("S01").state_dir / "packages" / f"{pkg_id}.json"
    assert "ZZZ20000" in state.read_text()
    assert client_sources(lab, "S01") == ["ZZZ20000.ofr"]
    console.delete_package(lab, pkg_id)
    assert lab.run_until_idle(seed=15).status == "idle"
    for site in SITES:
        assert offered(lab, site) == [] == in_cap(lab, site), site
        assert client_sources(lab, site) == [], site
        assert (lab.site(site).cap / "pkginfo.box").is_dir()
        assert list((lab.site(site).cap / "pkginfo.box").iterdir()) == []
    for site in ("ZZZ", "P00"):
        assert query(lab, site, "SELECT COUNT(*) FROM Advertisements") == [(0,)]
    assert not state.exists()
    # At a secondary only Distribution Manager deletes them (Q257318).
    assert_in_order(log_messages(lab, "S01", "distmgr.log"), [
        f"Start deleting the package {pkg_id}...",
        f"Deleted advertisement ZZZ20000 of package {pkg_id}",
        f"~Successfully deleted the package {pkg_id}",
    ])


def test_a_secondary_that_skips_deleting_advertisements_keeps_the_ofr_in_clicfg_src(
        sitesrv_lab_factory, default_hierarchy_text: str, tmp_path: Path) -> None:
    """Q257318: at a secondary only Distribution Manager deletes a deleted package's
    advertisements; when it does not, the offer is gone from offerinf.box and the CAP but its
    `.ofr` stays in clicfg.src."""
    lab = sitesrv_lab_factory(default_hierarchy_text.replace(
        "software_distribution:\n", "software_distribution:\n"
        "  secondaries_keep_advertisements: true\n", 1))
    assert lab.hierarchy.software_distribution.secondaries_keep_advertisements
    shown = CliRunner().invoke(cli, ["hierarchy", "--lab", str(lab.root)]).output
    assert "secondaries keep deleted packages' advertisements (Q257318)" in shown
    pkg_id = create(lab, write_source(tmp_path / "src"))
    advertise(lab, pkg_id)
    assert lab.run_until_idle(seed=18).status == "idle"
    ofr = lab.site("S01").inbox("clicfg.src") / "ZZZ20000.ofr"
    assert ofr.read_bytes() == (lab.site("S01").inbox("offerinf.box") / "ZZZ20000.ofr"
                                ).read_bytes()
    assert "Wrote E:\\SMS\\inboxes\\clicfg.src\\ZZZ20000.ofr" in log_messages(
        lab, "S01", "offermgr.log")
    assert client_sources(lab, "ZZZ") == [] == client_sources(lab, "P00"), "primaries: none"
    console.delete_package(lab, pkg_id)
    assert lab.run_until_idle(seed=19).status == "idle"
    for site in SITES:
        assert offered(lab, site) == [] == in_cap(lab, site), site
    assert client_sources(lab, "S01") == ["ZZZ20000.ofr"], "the leftover of Q257318"
    assert offer.OFFER.read(ofr).package_id == pkg_id
    distmgr = log_messages(lab, "S01", "distmgr.log")
    assert f"~Successfully deleted the package {pkg_id}" in distmgr
    assert not any(m.startswith("Deleted advertisement") for m in distmgr)
    assert "Deleted E:\\SMS\\inboxes\\offerinf.box\\ZZZ20000.ofr, which no advertisement " \
           "calls for here now" in log_messages(lab, "S01", "offermgr.log")


def test_deleting_an_advertisement_deletes_its_files_everywhere(lab: Lab, tmp_path: Path) -> None:
    pkg_id = create(lab, write_source(tmp_path / "src"))
    adv, _ = advertise(lab, pkg_id)
    assert lab.run_until_idle(seed=16).status == "idle"
    advertisements.delete_advertisement(lab, adv)
    assert lab.run_until_idle(seed=17).status == "idle"
    for site in SITES:
        assert offered(lab, site) == [] == in_cap(lab, site), site
    assert query(lab, "P00", "SELECT COUNT(*) FROM Advertisements") == [(0,)]
    assert_in_order(log_messages(lab, "S01", "offermgr.log"), [
        "Deleted replicated advertisement ZZZ20000",
        "Deleted E:\\SMS\\inboxes\\clicfg.src\\ZZZ20000.ofr"])
    assert client_sources(lab, "S01") == []


def test_a_package_without_source_leaves_its_files_everywhere_and_is_advertised_without_a_dp(
        lab: Lab) -> None:
    pkg_id = console.create_package(lab, "ZZZ", name="Run a command", source=None, dps=[])
    advertise(lab, pkg_id)
    assert lab.run_until_idle(seed=18).status == "idle"
    for site in SITES:
        box = lab.site(site).inbox("pkginfo.box")
        assert sorted(p.name for p in box.iterdir()) == [f"{pkg_id}.ICO", f"{pkg_id}.NAL",
                                                         f"{pkg_id}.PKG"], site
        assert sorted(p.name for p in (lab.site(site).cap / "pkginfo.box").iterdir()) == \
            sorted(p.name for p in box.iterdir())
        assert not list(lab.site(site).smspkg.iterdir()), "no compressed copy"
        assert offered(lab, site) == THREE, site
    assert query(lab, "P00", "SELECT StorePkgFlag, SourceVersion FROM SMSPackages") == [(1, 1)]
    assert "Package ZZZ00001 has no source files; it needs no compressed copy and no " \
           "distribution point." in log_messages(lab, "ZZZ", "distmgr.log")


@pytest.mark.parametrize(("args", "says"), [
    (["package", "create", "ZZZ", "--name", "X", "--dp", "ZZZ:MGMT01"],
     "A package without source files has nothing to put on a distribution point"),
    (["advertisement", "create", "ZZZ", "--package", "ZZZ00009", "--program", "Setup",
      "--collection", "ZZZ10000"], "Package ZZZ00009 is not known at site ZZZ."),
    (["advertisement", "create", "S01", "--package", "ZZZ00001", "--program", "Setup",
      "--collection", "ZZZ10000"], "Site S01 is a secondary site"),
    (["advertisement", "create", "ZZZ", "--package", "ZZZ00001", "--program", "Setup",
      "--collection", "ZZZ1FFFF"], "There is no collection ZZZ1FFFF at site ZZZ"),
    (["advertisement", "create", "ZZZ", "--package", "ZZZ00001", "--program", "Setup",
      "--collection", "ZZZ10000", "--schedule", "tomorrow"], "--schedule 'tomorrow' is not"),
    (["advertisement", "delete", "ZZZ2FFFF"], "There is no advertisement ZZZ2FFFF made at"),
    (["advertisement", "delete", "nonsense"], "'nonsense' is not an advertisement ID"),
    (["collection", "clients", "QQQ10000", "3"], "There is no collection QQQ10000 in this lab"),
    # A name across two lines was taken, and the package could never be sent (a bug hunt).
    (["package", "create", "ZZZ", "--name", "Two\nLines"], "--name must be one line of text"),
    (["collection", "create", "ZZZ", "--name", "a\tb"], "--name must be one line of text"),
    (["advertisement", "create", "ZZZ", "--package", "ZZZ00001", "--program", "Setup",
      "--collection", "ZZZ10000", "--name", "x\ry"], "--name must be one line of text"),
    (["advertisement", "create", "ZZZ", "--package", "ZZZ00001", "--program", "Setup\nX=1",
      "--collection", "ZZZ10000"], "--program must be one line of text"),
])
def test_console_mistakes_exit_2_with_one_paragraph(lab: Lab, args: list[str], says: str) -> None:
    console.create_package(lab, "ZZZ", name="Run", source=None, dps=[])
    advertisements.create_collection(lab, "ZZZ", name="All Systems")
    result = CliRunner().invoke(cli, [*args, "--lab", str(lab.root)])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert says in message
    assert "\n" not in message and "Traceback" not in message


@pytest.mark.live_fs
def test_live_advertisement_reaches_every_cap(lab: Lab, tmp_path: Path) -> None:
    pkg_id = create(lab, write_source(tmp_path / "src"), dps=ALL_DPS)
    advertise(lab, pkg_id)
    with running(lab, timeout=60):
        wait_for(lambda: all(in_cap(lab, s) == THREE for s in SITES), timeout=120,
                 what="the advertisement's files in every site's CAP")


@pytest.mark.live_fs
def test_live_offers_wait_for_a_dp_and_clients_and_a_package_without_source_reaches_every_cap(
        lab: Lab, tmp_path: Path) -> None:
    """The flowcharts' conditions with the servers running: no offer where no DP holds the
    package, no instruction files before the collection has clients; and the `.PKG`, `.NAL`,
    `.ICO` of a package without source files in every CAP."""
    pkg_id = create(lab, write_source(tmp_path / "src"), dps=["ZZZ:MGMT01"])
    _, collection = advertise(lab, pkg_id, clients=0)
    bare = console.create_package(lab, "ZZZ", name="No Source", source=None, dps=[])
    bare_files = [f"{bare}.ICO", f"{bare}.NAL", f"{bare}.PKG"]
    waiting = (f"Advertisement ZZZ20000 is not offered yet: package {pkg_id} is not on a "
               "distribution point of this site")
    with running(lab, timeout=60):
        wait_for(lambda: in_cap(lab, "ZZZ") == ["ZZZ20000.ofr"], timeout=120,
                 what="the offer alone in ZZZ's CAP")
        for site in ("P00", "S01"):
            wait_for(lambda site=site: waiting in log_messages(lab, site, "offermgr.log"),
                     timeout=120, what=f"{site}'s Offer Manager waiting for a DP")
        wait_for(lambda: all(sorted(p.name for p in (lab.site(s).cap / "pkginfo.box").iterdir())
                             == sorted([*bare_files, *([f"{pkg_id}.ICO", f"{pkg_id}.NAL",
                                                         f"{pkg_id}.PKG"] if s == "ZZZ" else [])])
                             for s in SITES), timeout=120,
                 what="the package without source in every CAP")
        assert offered(lab, "P00") == [] == in_cap(lab, "P00")
        console.add_dp(lab, pkg_id, "P00:REMOTE_DP")
        advertisements.set_clients(lab, collection, 5)
        wait_for(lambda: in_cap(lab, "ZZZ") == THREE == in_cap(lab, "P00"), timeout=120,
                 what="the advertisement's three files in ZZZ's and P00's CAPs")
    assert offered(lab, "S01") == [] == in_cap(lab, "S01"), "S01 still has no DP of it"


def test_make_demo_shows_the_cap_files_and_an_advertisement_at_every_site(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--lab", str(tmp_path / "lab")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for server, site in (("MGMT01", "ZZZ"), ("MGMT03", "P00"), ("SEC01", "S01")):
        assert f"  \\\\{server}\\CAP_{site}\\pkginfo.box: ZZZ00001.ICO ZZZ00001.NAL " \
               "ZZZ00001.PKG" in lines
        assert f"  \\\\{server}\\CAP_{site}\\offerinf.box: ZZZ20000.ins ZZZ20000.lkp " \
               "ZZZ20000.ofr" in lines


def test_a_damaged_replicated_advertisement_goes_to_corrupt_with_its_problem(lab: Lab) -> None:
    incoming = lab.site("S01").inbox("offermgr.box\\INCOMING")
    (incoming / "DAMAGED1.OFR").write_text("[ACTION]\nAction=ADD\nAdvertisementID=ZZZ20000\n"
                                           "[END]\n")
    report = lab.run_until_idle(seed=19)
    assert report.status == "waiting"  # a quarantined file is a problem of the run
    assert sorted(p.name for p in (incoming / "corrupt").iterdir()) == ["DAMAGED1.OFR",
                                                                         "quarantine.log"]
    assert any(m.startswith("Moved the corrupt file E:\\SMS\\inboxes\\offermgr.box\\INCOMING\\"
                            "DAMAGED1.OFR to ") and "an ADD carries the [ADVERTISEMENT]" in m
               for m in log_messages(lab, "S01", "offermgr.log"))


def test_a_fifo_in_offerinf_box_is_replaced_never_read(lab: Lab, tmp_path: Path) -> None:
    """A FIFO under an offer's name hung the step run: Offer Manager opened it to compare it
    (a bug hunt found it). Now it is compared without being opened, and replaced. Inbox
    Manager, which mirrors the box, finds it first here: it goes to corrupt\\ by a rename
    (never opened), with a line, so the run ends `waiting` for a person to look at it."""
    pkg_id = create(lab, write_source(tmp_path / "src"))
    advertise(lab, pkg_id)
    assert lab.run_until_idle(seed=11).status == "idle"
    ofr = lab.site("S01").inbox("offerinf.box") / "ZZZ20000.ofr"
    good = ofr.read_bytes()
    ofr.unlink()
    os.mkfifo(ofr)
    advertisements.set_clients(lab, "ZZZ10000", 4)  # a change: Offer Manager passes again

    assert run_with_deadline(lambda: lab.run_until_idle(seed=11)).status == "waiting"
    assert (ofr.parent / "corrupt" / ofr.name).is_fifo()
    assert ofr.is_file() and ofr.read_bytes() == good


def test_a_link_planted_as_clicfg_src_is_moved_aside_never_written_through(
        lab: Lab, tmp_path: Path) -> None:
    """A secondary's client configuration sources replaced by a link to a folder outside the
    lab: the offers were written there (a bug hunt found it)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    pkg_id = create(lab, write_source(tmp_path / "src"))
    sources = lab.site("S01").inbox("clicfg.src")
    if sources.exists():
        shutil.rmtree(sources)
    os.symlink(outside, sources)
    advertise(lab, pkg_id)

    assert lab.run_until_idle(seed=11).status == "idle"
    assert list(outside.iterdir()) == []
    assert client_sources(lab, "S01") == ["ZZZ20000.ofr"]
    assert os.path.islink(sources.with_name(".clicfg.src.refused"))
    assert [m for m in log_messages(lab, "S01", "offermgr.log")
            if m.startswith("Moved ") and "it was a symbolic link, not a folder" in m]


def test_removing_a_sites_last_dp_withdraws_its_offers_and_its_nal(lab: Lab,
                                                                    tmp_path: Path) -> None:
    """The DP folders went but the offers stayed, pointing clients at content that was gone,
    and the .NAL still named the DP (a bug hunt found both)."""
    pkg_id = create(lab, write_source(tmp_path / "src"))
    advertise(lab, pkg_id)
    assert lab.run_until_idle(seed=11).status == "idle"
    assert offered(lab, "S01") == THREE
    console.remove_dp(lab, pkg_id, "S01:SEC01")

    assert lab.run_until_idle(seed=11).status == "idle"
    assert offered(lab, "S01") == [] and in_cap(lab, "S01") == []
    assert offered(lab, "P00") == THREE, "P00's DP still holds it"
    nal = lab.site("S01").inbox("pkginfo.box") / f"{pkg_id}.NAL"
    assert nal.read_text() == ""
    assert "REMOTE_DP" in (lab.site("P00").inbox("pkginfo.box") / f"{pkg_id}.NAL").read_text()


def test_a_secondary_offers_with_the_count_it_received_last(lab: Lab, tmp_path: Path) -> None:
    """Bug hunt: a secondary keeps a collection with each advertisement of it, and took the
    count from whichever package's file sorted last: the child primary's advertisement of the
    same collection, with the old count."""
    first = create(lab, write_source(tmp_path / "a"))
    second = create(lab, write_source(tmp_path / "b"))
    adv, collection = advertise(lab, first, clients=3)
    assert lab.run_until_idle(seed=11).status == "idle"
    advertisements.create_advertisement(lab, "P00", package_id=second, program="Setup",
                                        collection_id=collection)
    assert lab.run_until_idle(seed=11).status == "idle"
    advertisements.set_clients(lab, collection, 7)
    assert lab.run_until_idle(seed=11).status == "idle"
    for site in SITES:
        lookup = offer.LOOKUP.read(lab.site(site).cap / "offerinf.box" / f"{adv}.lkp")
        assert lookup.recipients == (
            offer.Recipient(collection_id=collection, member_count=7),), site



def instruction_counts(lab: Lab, adv: str) -> dict[str, int | None]:
    """Each site's count in `adv`'s lookup in its CAP, None where it has no `.ins`/`.lkp`."""
    counts: dict[str, int | None] = {}
    for site in SITES:
        cap = lab.site(site).cap / "offerinf.box"
        present = [(cap / f"{adv}{ext}").is_file() for ext in (".ins", ".lkp")]
        assert present[0] == present[1], site
        counts[site] = offer.LOOKUP.read(cap / f"{adv}.lkp").recipients[0].member_count \
            if present[0] else None
    return counts


def test_a_change_of_a_collections_clients_reaches_every_site_below(lab: Lab,
                                                                     tmp_path: Path) -> None:
    """The collection travels on its own (`.COL`): 0 clients, then 5, then 0 again, and the
    instruction files come and go at every site, the secondary's state file following."""
    pkg_id = create(lab, write_source(tmp_path / "src"))
    adv, collection = advertise(lab, pkg_id, clients=0)
    assert lab.run_until_idle(seed=21).status == "idle"
    for site in SITES:
        assert offered(lab, site) == ["ZZZ20000.ofr"] == in_cap(lab, site), site
    state = lab.site("S01").state_dir / "packages" / f"{pkg_id}.json"

    advertisements.set_clients(lab, collection, 5)
    assert lab.run_until_idle(seed=22).status == "idle"
    assert instruction_counts(lab, adv) == {"ZZZ": 5, "P00": 5, "S01": 5}
    for site in SITES:
        assert offered(lab, site) == THREE == in_cap(lab, site), site
    assert query(lab, "P00", "SELECT MemberCount FROM Collections") == [(5,)]
    assert '"MemberCount": 5' in state.read_text()
    zzz = log_messages(lab, "ZZZ", "offermgr.log")
    assert_in_order(zzz, [
        "Processing file E:\\SMS\\inboxes\\offermgr.box\\ZZZ10000.OFN.",
        "Sent collection ZZZ10000 (5 client(s)) to site P00",
        "Sent collection ZZZ10000 (5 client(s)) to site S01",
    ])
    assert zzz.count("Sent advertisement ZZZ20000 (ADD) to site P00") == 1, \
        "the collection goes alone, not the advertisement again"
    for site in ("P00", "S01"):
        assert_in_order(log_messages(lab, site, "offermgr.log"), [
            "Updated replicated collection ZZZ10000 from site ZZZ: 5 client(s)",
            "Advertisement ZZZ20000 is offered to the 5 client(s) of collection ZZZ10000",
            "Wrote E:\\SMS\\inboxes\\offerinf.box\\ZZZ20000.ins",
            "Wrote E:\\SMS\\inboxes\\offerinf.box\\ZZZ20000.lkp",
        ])
    assert "Received a replication object ZZZ10000" not in log_messages(lab, "P00",
                                                                         "replmgr.log")

    advertisements.set_clients(lab, collection, 0)
    assert lab.run_until_idle(seed=23).status == "idle"
    assert instruction_counts(lab, adv) == {"ZZZ": None, "P00": None, "S01": None}
    for site in SITES:
        assert offered(lab, site) == ["ZZZ20000.ofr"] == in_cap(lab, site), site
    assert '"MemberCount": 0' in state.read_text()
    assert_in_order(log_messages(lab, "S01", "offermgr.log"), [
        "Updated replicated collection ZZZ10000 from site ZZZ: 0 client(s)",
        "Advertisement ZZZ20000 is offered; collection ZZZ10000 has no clients, so no "
        "instruction files",
        "Deleted E:\\SMS\\inboxes\\offerinf.box\\ZZZ20000.ins, which no advertisement calls "
        "for here now",
    ])


def test_a_child_sites_advertisement_of_a_parents_collection_takes_its_new_count(
        lab: Lab, tmp_path: Path) -> None:
    """P00 advertises ZZZ's collection, which it knows from ZZZ's advertisement; that one is
    deleted, and the count still reaches P00 and S01: the collection travels without it, and P00
    sends its own advertisement of it again."""
    first = create(lab, write_source(tmp_path / "a"))
    second = create(lab, write_source(tmp_path / "b"))
    adv, collection = advertise(lab, first, clients=0)
    assert lab.run_until_idle(seed=24).status == "idle"
    child = advertisements.create_advertisement(lab, "P00", package_id=second, program="Setup",
                                                collection_id=collection)
    advertisements.delete_advertisement(lab, adv)
    assert lab.run_until_idle(seed=25).status == "idle"
    assert instruction_counts(lab, child) == {"ZZZ": None, "P00": None, "S01": None}
    assert query(lab, "ZZZ", "SELECT COUNT(*) FROM Advertisements") == [(0,)]

    advertisements.set_clients(lab, collection, 5)
    assert lab.run_until_idle(seed=26).status == "idle"
    assert instruction_counts(lab, child) == {"ZZZ": None, "P00": 5, "S01": 5}
    assert_in_order(log_messages(lab, "P00", "offermgr.log"), [
        "Updated replicated collection ZZZ10000 from site ZZZ: 5 client(s)",
        f"Sent advertisement {child} (ADD) to site S01",
    ])

    advertisements.set_clients(lab, collection, 0)
    assert lab.run_until_idle(seed=27).status == "idle"
    assert instruction_counts(lab, child) == {"ZZZ": None, "P00": None, "S01": None}
    assert in_cap(lab, "S01") == [f"{child}.ofr"]


def test_a_collection_no_advertisement_brought_is_not_kept(lab: Lab) -> None:
    """A site below that holds no advertisement of the collection has nowhere to keep it (a
    secondary keeps collections only with advertisements); it says so and writes nothing."""
    collection = advertisements.create_collection(lab, "ZZZ", name="Nobody", clients=0)
    advertisements.set_clients(lab, collection, 2)
    assert lab.run_until_idle(seed=28).status == "idle"
    for site in ("P00", "S01"):
        assert f"Collection {collection} from site ZZZ is not kept here: no advertisement here " \
               "targets it" in log_messages(lab, site, "offermgr.log"), site
        assert offered(lab, site) == [], site
    assert query(lab, "P00", "SELECT COUNT(*) FROM Collections") == [(0,)]


def test_collection_ids_stop_below_the_advertisements_range(lab: Lab) -> None:
    """An OfferNotification's ID names a collection or an advertisement, never both."""
    with SiteDatabase.open(lab.site("ZZZ").database) as db:
        db.execute_user_sql("INSERT INTO ObjectIDCounters (Kind, SiteCode, LastNumber) "
                            "VALUES ('Collection', 'ZZZ', 131070)")
    assert advertisements.create_collection(lab, "ZZZ", name="Last") == "ZZZ1FFFF"
    with pytest.raises(UserError, match="Site ZZZ has no collection IDs left."):
        advertisements.create_collection(lab, "ZZZ", name="One too many")
