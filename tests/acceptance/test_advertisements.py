"""Advertisements: Offer Manager's files in offerinf.box and every CAP, at every site, only once
a DP of the site holds the package and the collection has clients; gone with the package
(step mode, one live test)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.admin import advertisements, console, faults
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.db.sitedb import SiteDatabase
from sitesrv.errors import UserError
from sitesrv.formats import offer, rpl
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
    assert zzz.count("Sent advertisement ZZZ20000 (ADD) to site P00") == 2, \
        "the advertisement goes again with the collection's new revision, for a site below " \
        "that takes the .COL before the advertisement and has nowhere to keep it"
    for site in ("P00", "S01"):  # the .COL or the advertisement, whichever comes first
        assert_in_order(log_messages(lab, site, "offermgr.log"), [
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


# --- objects taken out of order, and objects from the wrong site ---------------------------------


def held_objects(lab: Lab, site: str) -> dict[str, list[tuple[str, bytes]]]:
    """The objects `site` batched for the sites below and could not send (its link is down),
    by destination, in the order it made them: (object class, bytes)."""
    out: dict[str, list[tuple[str, bytes]]] = {}
    ready = lab.site(site).inbox("replmgr.box") / "ready"
    for path in sorted(ready.glob("*.RPL")):
        batch = rpl.read(path)
        out.setdefault(batch.destination_site, []).extend(
            (o.object_class, o.data) for o in batch.objects)
    return out


def deliver_reversed(lab: Lab, objects: dict[str, list[tuple[str, bytes]]], prefix: str = ""
                     ) -> None:
    """Each destination's objects in its `offermgr.box\\INCOMING` at once, under names that
    sort the last made first, as Replication Manager's hashed names may."""
    for dest, held in objects.items():
        incoming = lab.site(dest).inbox("offermgr.box\\INCOMING")
        for n, (object_class, data) in enumerate(held):
            (incoming / f"{prefix}{99 - n:02d}.{object_class}").write_bytes(data)


def discards(lab: Lab, site: str) -> list[str]:
    return [m for m in log_messages(lab, site, "offermgr.log")
            if m.startswith("~The replicated object ") and m.endswith(", discard it.")]


def added_and_deleted_while_the_link_is_down(
        lab: Lab, tmp_path: Path) -> tuple[str, str, dict[str, list[tuple[str, bytes]]]]:
    """ZZZ advertises a package and deletes the advertisement while its link to P00 is down:
    the package, the advertisement and the objects ZZZ holds for the sites below."""
    pkg_id = create(lab, write_source(tmp_path / "src"))
    assert lab.run_until_idle(seed=11).status == "idle"
    faults.set_link(lab, "ZZZ", "P00", up=False)
    adv, _ = advertise(lab, pkg_id)
    lab.run_until_idle(seed=11)
    advertisements.delete_advertisement(lab, adv)
    lab.run_until_idle(seed=11)
    held = held_objects(lab, "ZZZ")
    return pkg_id, adv, held


def test_an_add_and_a_delete_taken_in_reverse_order_end_deleted_everywhere(
        lab: Lab, tmp_path: Path) -> None:
    """ZZZ makes an advertisement and deletes it while its link to P00 is down; the two objects
    wait together in INCOMING and the DELETE is taken first. The ADD is older (revision 1 < 2):
    discarded, where before it brought the advertisement back."""
    pkg_id, adv, held = added_and_deleted_while_the_link_is_down(lab, tmp_path)
    assert [[offer.REPLICATION.decode(d).action for _, d in held[s]] for s in ("P00", "S01")] \
        == [["ADD", "DELETE"]] * 2

    add, delete = (offer.REPLICATION.decode(d).revision for _, d in held["S01"])
    assert add < delete
    deliver_reversed(lab, held)
    lab.run_until_idle(seed=12)  # waiting: ZZZ's jobs wait for the link
    for site in ("P00", "S01"):
        assert offered(lab, site) == [] == in_cap(lab, site), site
        assert discards(lab, site) == [
            "~The replicated object E:\\SMS\\inboxes\\offermgr.box\\INCOMING\\99.OFR for "
            f"advertisement {adv} (revision {add}) is not newer than the one applied here "
            f"(revision {delete}), discard it."], site
    assert query(lab, "P00", "SELECT COUNT(*) FROM Advertisements") == [(0,)]
    assert '"advertisements"' not in (lab.site("S01").state_dir / "packages" /
                                      f"{pkg_id}.json").read_text()
    # The DELETE's revision stays, a tombstone.
    assert json.loads((lab.site("S01").state_dir / "offermgr-revisions.json").read_text()) == {
        adv: delete}

    faults.set_link(lab, "ZZZ", "P00", up=True)  # the same objects come again: nothing changes
    assert lab.run_until_idle(seed=13).status == "idle"
    for site in ("P00", "S01"):
        assert offered(lab, site) == [] == in_cap(lab, site), site
        assert len(discards(lab, site)) == 3, site


def test_two_client_counts_taken_in_reverse_order_end_with_the_newer(
        lab: Lab, tmp_path: Path) -> None:
    pkg_id = create(lab, write_source(tmp_path / "src"))
    adv, collection = advertise(lab, pkg_id, clients=3)
    assert lab.run_until_idle(seed=11).status == "idle"
    faults.set_link(lab, "ZZZ", "P00", up=False)
    advertisements.set_clients(lab, collection, 5)
    lab.run_until_idle(seed=11)
    advertisements.set_clients(lab, collection, 7)
    lab.run_until_idle(seed=11)
    held = held_objects(lab, "ZZZ")
    sent = [offer.COLLECTION.decode(d) for c, d in held["S01"] if c == "COL"]
    assert [c.member_count for c in sent] == [5, 7]
    older, newer = (c.revision for c in sent)

    deliver_reversed(lab, held)
    lab.run_until_idle(seed=12)
    assert instruction_counts(lab, adv) == {"ZZZ": 7, "P00": 7, "S01": 7}
    assert query(lab, "P00", "SELECT MemberCount FROM Collections") == [(7,)]
    assert '"MemberCount": 7' in (lab.site("S01").state_dir / "packages" /
                                  f"{pkg_id}.json").read_text()
    assert any(f"for collection {collection} (revision {older}) is not newer than the one "
               f"applied here (revision {newer})" in m for m in discards(lab, "S01"))


def test_an_older_add_that_comes_after_the_delete_does_not_bring_the_advertisement_back(
        lab: Lab, tmp_path: Path) -> None:
    pkg_id, adv, held = added_and_deleted_while_the_link_is_down(lab, tmp_path)
    deletes = {s: [o for o in objects if b"Action=DELETE" in o[1]] for s, objects in held.items()}
    adds = {s: [o for o in objects if b"Action=ADD" in o[1]] for s, objects in held.items()}
    add, delete = (offer.REPLICATION.decode(o[s][0][1]).revision for o in (adds, deletes)
                   for s in ("S01",))

    deliver_reversed(lab, deletes, prefix="D")
    lab.run_until_idle(seed=12)
    deliver_reversed(lab, adds, prefix="A")  # late, alone
    lab.run_until_idle(seed=13)
    for site in ("P00", "S01"):
        assert offered(lab, site) == [] == in_cap(lab, site), site
        assert client_sources(lab, site) == [], site
        assert_in_order(log_messages(lab, site, "offermgr.log"), [
            f"Deleted replicated advertisement {adv}",
            "~The replicated object E:\\SMS\\inboxes\\offermgr.box\\INCOMING\\A99.OFR for "
            f"advertisement {adv} (revision {add}) is not newer than the one applied here "
            f"(revision {delete}), discard it.",
        ])


FORGED_DELETE = "[ACTION]\nAction=DELETE\nAdvertisementID=ZZZ20000\nRevision=99\n[END]\n"


def test_a_forged_delete_of_the_central_sites_own_advertisement_is_quarantined(
        lab: Lab, tmp_path: Path) -> None:
    """A valid DELETE dropped in ZZZ's INCOMING deleted ZZZ's own advertisement, at every
    site: a site takes changes of an advertisement only from the site above it that owns it."""
    pkg_id = create(lab, write_source(tmp_path / "src"))
    advertise(lab, pkg_id)
    assert lab.run_until_idle(seed=11).status == "idle"
    incoming = lab.site("ZZZ").inbox("offermgr.box\\INCOMING")
    (incoming / "FORGED01.OFR").write_text(FORGED_DELETE)

    assert lab.run_until_idle(seed=14).status == "waiting"  # a quarantined file is a problem
    assert sorted(p.name for p in (incoming / "corrupt").iterdir()) == ["FORGED01.OFR",
                                                                        "quarantine.log"]
    assert any(m.startswith("Moved the corrupt file E:\\SMS\\inboxes\\offermgr.box\\INCOMING\\"
                            "FORGED01.OFR to ") and "it changes ZZZ20000, but it would change "
                            "an object of this site (ZZZ), which only this site changes" in m
               for m in log_messages(lab, "ZZZ", "offermgr.log"))
    for site in SITES:
        assert offered(lab, site) == THREE == in_cap(lab, site), site
    assert query(lab, "ZZZ", "SELECT AdvertisementID FROM Advertisements") == [("ZZZ20000",)]


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("FORGED02.OFR", offer.REPLICATION.dumps(offer.OfferReplication(
        action=offer.OfferAction.ADD, advertisement_id="S0120000", revision=1,
        offer=offer.Offer(advertisement_id="S0120000", package_id="ZZZ00001",
                          program_name="Setup", collection_id="ZZZ10000", source_site="S01",
                          present_time=0),
        collection=offer.CollectionFacts(collection_id="ZZZ10000", member_count=9,
                                         source_site="ZZZ", revision=9))),
     "it changes S0120000, but its source site S01 is not above this site"),
    ("FORGED03.COL", offer.COLLECTION.dumps(offer.CollectionFacts(
        collection_id="ZZZ10000", member_count=9, source_site="S01", revision=9)),
     "it changes ZZZ10000, but its source site S01 is not above this site"),
    ("FORGED04.OFR", FORGED_DELETE.replace("ZZZ20000", "QQQ20000"),
     "it changes QQQ20000, but its source site QQQ is not in this lab"),
], ids=["ADD-from-S01", "COL-from-S01", "DELETE-from-QQQ"])
def test_a_forged_object_at_p00_from_a_site_not_above_it_is_quarantined(
        lab: Lab, tmp_path: Path, name: str, text: str, problem: str) -> None:
    pkg_id = create(lab, write_source(tmp_path / "src"))
    adv, _ = advertise(lab, pkg_id)
    assert lab.run_until_idle(seed=11).status == "idle"
    incoming = lab.site("P00").inbox("offermgr.box\\INCOMING")
    (incoming / name).write_text(text)

    assert lab.run_until_idle(seed=15).status == "waiting"
    assert (incoming / "corrupt" / name).read_text() == text
    assert any(m.startswith(f"Moved the corrupt file E:\\SMS\\inboxes\\offermgr.box\\INCOMING\\"
                            f"{name} to ") and problem in m
               for m in log_messages(lab, "P00", "offermgr.log"))
    assert query(lab, "P00", "SELECT AdvertisementID FROM Advertisements") == [(adv,)]
    assert instruction_counts(lab, adv) == {"ZZZ": 3, "P00": 3, "S01": 3}


def test_a_damaged_revisions_file_is_said_and_started_again(lab: Lab, tmp_path: Path) -> None:
    pkg_id = create(lab, write_source(tmp_path / "src"))
    adv, collection = advertise(lab, pkg_id, clients=3)
    assert lab.run_until_idle(seed=11).status == "idle"
    ledger = lab.site("P00").state_dir / "offermgr-revisions.json"
    ledger.write_text('{"ZZZ10000": "many"}')
    advertisements.set_clients(lab, collection, 4)

    assert lab.run_until_idle(seed=16).status == "idle"
    assert instruction_counts(lab, adv) == {"ZZZ": 4, "P00": 4, "S01": 4}
    assert log_messages(lab, "P00", "offermgr.log").count(
        "Cannot read the revisions in E:\\SMS\\state\\offermgr-revisions.json (the offer "
        "revisions are not in the expected shape: 'ZZZ10000': must be a whole number); starting "
        "them again") == 1
    sent = json.loads((lab.site("ZZZ").state_dir / "offermgr-revisions.json").read_text())
    assert json.loads(ledger.read_text()) == sent and sorted(sent) == sorted([adv, collection])


def test_the_owning_site_never_counts_again_after_losing_its_revisions(
        lab: Lab, tmp_path: Path) -> None:
    """A review found every later change dropped below once ZZZ's own revisions file was
    damaged or deleted: ZZZ counted again from 1, and P00 and S01 discarded each object as
    not newer. A revision is now the lab time in milliseconds of the change (or one more
    than the last), so the owner's next change is newer whatever it lost."""
    pkg_id = create(lab, write_source(tmp_path / "src"))
    adv, collection = advertise(lab, pkg_id, clients=3)
    assert lab.run_until_idle(seed=11).status == "idle"
    advertisements.set_clients(lab, collection, 5)
    assert lab.run_until_idle(seed=11).status == "idle"
    (lab.site("ZZZ").state_dir / "offermgr-revisions.json").unlink()
    advertisements.set_clients(lab, collection, 9)
    assert lab.run_until_idle(seed=11).status == "idle"
    assert instruction_counts(lab, adv) == {"ZZZ": 9, "P00": 9, "S01": 9}
