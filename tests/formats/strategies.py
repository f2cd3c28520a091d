"""Hypothesis strategies for valid instruction records: every value the writer must accept."""

from __future__ import annotations

from types import SimpleNamespace

import attrs
from hypothesis import strategies as st

from sitesrv.formats import job, offer, pkg, pkn, revisions, sni, srq, sta, storedpkg, svf
from sitesrv.formats.values import (
    LATEST_TIMESTAMP,
    SERVER,
    SHARE,
    AddressType,
    Check,
    Payload,
)
from sitesrv.lab import identifiers


def passes(check: Check):
    def ok(value: object) -> bool:
        try:
            check.verify(value)
        except (ValueError, TypeError):
            return False
        return True
    return ok


# Any text a value may hold: unicode, '=', brackets, but no line break and no outer white space.
text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"),
               max_size=40).map(str.strip)
nonempty_text = text.filter(bool)
sites = st.from_regex(r"[A-Z0-9]{3}", fullmatch=True)
package_ids = st.from_regex(r"[A-Z0-9]{3}[0-9A-F]{5}", fullmatch=True)
job_ids = st.from_regex(r"[0-9A-F]{8}", fullmatch=True)
priorities = st.integers(1, 3)
counters = st.integers(0, identifiers.COUNTER_LIMIT - 1)
request_ids = st.builds(identifiers.request_id, priorities, counters, sites)
times = st.integers(0, round(LATEST_TIMESTAMP * 1000)).map(lambda ms: ms / 1000)
counts = st.integers(0, 2**63 - 1)
versions = st.integers(0, identifiers.MAX_VERSION)
preferred = st.sampled_from(["*", *AddressType])
instruction_types = st.from_regex(r"[A-Z0-9_]{1,12}(\|[A-Z0-9_]{1,12}){0,4}", fullmatch=True)
servers = st.from_regex(r"[^\"/\\\[\];:|=+*?,<>\s]{1,15}", fullmatch=True).filter(passes(SERVER))
shares = st.from_regex(r"[^\"/\[\];:|=+*?,<>]{1,20}", fullmatch=True).filter(passes(SHARE))
sha256s = st.binary(min_size=32, max_size=32).map(bytes.hex)
nal_paths = st.builds(lambda site, server, share: f'MSWNET:["SMS_SITE={site}"]\\\\{server}\\'
                      f"{share}\\", sites, servers,
                      shares.filter(lambda s: all(p.strip(". ") for p in s.split("\\"))))
pkg_servers = st.one_of(servers, nal_paths)

notifications = st.builds(
    pkn.PackageNotification, package_id=package_ids, change=st.sampled_from(pkn.Change),
    table=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True))

package_servers = st.builds(
    pkg.PackageServer, site_code=sites, server=servers, share=shares, nal_path=nal_paths,
    action=st.sampled_from(pkg.PackageAction))

replications = st.builds(
    pkg.PackageReplication, package_id=package_ids, name=nonempty_text, version=text,
    source_site=sites, source_version=versions, last_refresh_time=times, priority=priorities,
    pkg_flags=st.integers(0, 2**32 - 1), share_name=text, share_type=st.integers(1, 2),
    source_flag=st.integers(1, 4),
    preferred_address=preferred, ignore_schedule=st.booleans(),
    action=st.sampled_from(pkg.PackageAction), issuing_site=sites,
    content_site=st.one_of(st.just(""), sites), forward=st.booleans(), content=st.booleans(),
    servers=st.lists(package_servers, max_size=6).map(tuple))


@st.composite
def status_reports(draw) -> sta.PackageStatusReport:
    package_id = draw(package_ids)
    rows = st.builds(
        sta.PkgStatusRow, package_id=st.just(package_id), type=st.integers(1, 2),
        site_code=sites, pkg_server=pkg_servers, status=st.integers(0, 7),
        source_version=versions, update_time=times, location=text, share_name=text,
        personality=st.integers(0, 2))
    return sta.PackageStatusReport(reporting_site=draw(sites), package_id=package_id,
                                   rows=draw(st.lists(rows, min_size=1, max_size=6)))


@st.composite
def jobs(draw) -> job.SchedulerJob:
    payload = draw(st.sampled_from(Payload))
    package_id = draw(st.one_of(st.just(""), package_ids))
    carried = None
    if package_id and draw(st.booleans()):
        carried = attrs.evolve(draw(replications), package_id=package_id)
    return job.SchedulerJob(
        job_id=draw(job_ids), description=draw(text), destination_site=draw(sites),
        preferred_address=draw(preferred), priority=draw(priorities),
        instruction_type=draw(instruction_types),
        transfer_root="" if payload is Payload.NONE else draw(nonempty_text),
        payload=payload, package_id=package_id,
        package_version=draw(versions), originating_site=draw(sites),
        state=draw(st.sampled_from(job.JobState)),
        send_request_id=draw(st.one_of(st.just(""), request_ids)), created=draw(times),
        package=carried)


@st.composite
def send_requests(draw) -> srq.SendRequest:
    priority = draw(priorities)
    total = draw(counts)
    optional_times = st.one_of(st.none(), times)
    return srq.SendRequest(
        priority=priority, dest_site=draw(sites), job_id=draw(job_ids),
        request_id=identifiers.request_id(priority, draw(counters), draw(sites)),
        outbox=draw(nonempty_text), preferred_address=draw(preferred),
        ignore_schedule=draw(st.booleans()), status=draw(st.sampled_from(srq.SenderStatus)),
        first_started_at=draw(optional_times), started_at=draw(optional_times),
        ended_at=draw(optional_times), heartbeat_at=draw(optional_times),
        restart_at=draw(optional_times), total_bytes=total,
        bytes_left=draw(st.integers(0, total)), sync_point=draw(st.integers(0, total)),
        file_type=draw(st.sampled_from(srq.FileType)), connects=draw(counts),
        sender_id=draw(text), cancelled=draw(st.booleans()),
        action_code=draw(st.sampled_from(srq.ActionCode)),
        addresses=draw(st.lists(st.builds(srq.SenderAddress, address=nonempty_text,
                                          type=st.sampled_from(AddressType)),
                                min_size=1, max_size=5)),
        package_file=draw(text), instruction_file=draw(nonempty_text),
        routing_master_request_id=draw(st.one_of(st.just(""), request_ids)),
        originating_site=draw(sites), final_destination_site=draw(sites),
        confirmation_needed=draw(st.booleans()))


@st.composite
def instructions(draw) -> sni.Instruction:
    payload = draw(st.sampled_from(Payload))
    carries = payload is not Payload.NONE
    package = draw(st.one_of(st.none(), replications))
    return sni.Instruction(
        instruction_type=draw(instruction_types), job_id=draw(job_ids),
        request_id=draw(st.one_of(st.just(""), request_ids)),
        originating_site=draw(sites), sending_site=draw(sites),
        final_destination_site=draw(sites),
        package_id=package.package_id if package else draw(st.one_of(st.just(""), package_ids)),
        package_version=draw(versions), payload=payload, payload_size=draw(counts) if carries else 0,
        payload_sha256=draw(sha256s) if carries else "", priority=draw(priorities),
        description=draw(text), package=package)


stored_packages = st.builds(storedpkg.StoredPackage, package_id=package_ids, version=versions,
                            path=text)

offers = st.builds(offer.Offer, advertisement_id=package_ids, name=text, package_id=package_ids,
                   program_name=nonempty_text, collection_id=package_ids, source_site=sites,
                   present_time=times)
offer_instructions = st.builds(offer.OfferInstruction, advertisement_id=package_ids,
                               collection_id=package_ids)
lookups = st.builds(offer.Lookup, advertisement_id=package_ids, recipients=st.lists(
    st.builds(offer.Recipient, collection_id=package_ids, member_count=counts),
    min_size=1, max_size=4).map(tuple))

collection_facts = st.builds(offer.CollectionFacts, collection_id=package_ids, name=text,
                             member_count=counts, source_site=sites, revision=counts)


@st.composite
def offer_replications(draw) -> offer.OfferReplication:
    adv = draw(offers)
    if draw(st.booleans()):
        return offer.OfferReplication(action=offer.OfferAction.DELETE,
                                      advertisement_id=adv.advertisement_id,
                                      revision=draw(counts))
    collection = offer.CollectionFacts(collection_id=adv.collection_id, name=draw(text),
                                       member_count=draw(counts), source_site=draw(sites),
                                       revision=draw(counts))
    return offer.OfferReplication(action=offer.OfferAction.ADD,
                                  advertisement_id=adv.advertisement_id, offer=adv,
                                  collection=collection, revision=draw(counts))


@st.composite
def offer_revisions(draw) -> revisions.Revisions:
    ids = draw(st.lists(package_ids, max_size=6, unique_by=str.upper))
    return revisions.Revisions({i: draw(counts) for i in ids})


ids31 = st.integers(0, 2**31 - 1)
status_messages = st.builds(
    svf.StatusMessageFile, message_id=ids31, severity=st.sampled_from("IWE"),
    level=st.from_regex(r"[A-Z]", fullmatch=True), module_name=nonempty_text,
    component=nonempty_text, machine_name=nonempty_text, site_code=sites, process_id=ids31,
    thread_id=ids31, time=times,
    strings=st.lists(st.builds(svf.InsertionString, value=text), max_size=svf.MAX_STRINGS),
    attributes=st.lists(st.builds(svf.Attribute, id=ids31, value=text), max_size=5))


def as_module(layout):
    """A layout with the names the format modules export, for kinds that share a module."""
    return SimpleNamespace(LAYOUT=layout, dumps=layout.dumps, encode=layout.encode,
                           parse=layout.parse, decode=layout.decode, read=layout.read)


# Each kind: its module and a strategy of valid records.
KINDS = {
    "pkn": (pkn, notifications),
    "pkg": (pkg, replications),
    "sta": (sta, status_reports()),
    "job": (job, jobs()),
    "srq": (srq, send_requests()),
    "sni": (sni, instructions()),
    "storedpkg": (storedpkg, stored_packages),
    "ofr": (as_module(offer.OFFER), offers),
    "ins": (as_module(offer.INSTRUCTION), offer_instructions),
    "lkp": (as_module(offer.LOOKUP), lookups),
    "OFR-replication": (as_module(offer.REPLICATION), offer_replications()),
    "COL-replication": (as_module(offer.COLLECTION), collection_facts),
    "svf": (svf, status_messages),
}
