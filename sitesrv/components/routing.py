"""Which site a send request goes to next, and over which addresses (Q282494, Q276259).

A site only needs addresses to its parent and its children. A job for a site without a direct
address goes hop by hop along the tree: to the child on the way down to a descendant, otherwise
to the parent. Courier addresses are used only when the job asks for the Courier Sender, and are
never used for routing (Q282494). A Courier address is a direct address all the same: a job
the Courier Sender cannot carry (package information, status) to a site whose only address is a
Courier one is not routed through the tree, and finds no address (Q282494's grandchild).

A preferred sender is a preference: a job that prefers the Courier Sender, at a site with no
Courier address to its destination, goes by the Standard Sender's addresses as any job does (the
Scheduler looks for the job's addresses, then for backup addresses: Q282494's two lines).
"""

from __future__ import annotations

from pathlib import Path

import attrs

from sitesrv.errors import FormatError
from sitesrv.formats import srq
from sitesrv.formats.srq import SendRequest
from sitesrv.formats.values import AddressType
from sitesrv.lab.boxes import OUTBOX_COURIER, OUTBOX_LAN
from sitesrv.lab.hierarchy import Address, Hierarchy

OUTBOXES = {AddressType.LAN: OUTBOX_LAN, AddressType.COURIER: OUTBOX_COURIER}


@attrs.frozen
class Route:
    """The next hop towards a destination and the addresses to it, best first (maybe none)."""

    destination: str
    hop: str
    addresses: tuple[Address, ...]
    sender: AddressType
    courier_only: bool = False  # the addresses are Courier ones, which cannot carry this job
    backup: bool = False  # the preferred sender has no address: the Standard Sender's instead

    @property
    def direct(self) -> bool:
        return self.hop == self.destination


def sender_type(preferred_address: str) -> AddressType:
    """`*` means any automatic sender, which is the Standard Sender (Courier is never chosen)."""
    return AddressType.COURIER if preferred_address == AddressType.COURIER else AddressType.LAN


def addresses(hierarchy: Hierarchy, here: str, to: str, sender: AddressType) -> tuple[Address, ...]:
    return tuple(a for a in hierarchy.addresses_between(here, to) if a.type == sender)


def next_hop(hierarchy: Hierarchy, here: str, destination: str) -> str:
    """The neighbour of `here` on the tree path to `destination`."""
    for site in (hierarchy.site(destination), *hierarchy.ancestors(destination)):
        if site.parent == here:
            return site.code
    parent = hierarchy.site(here).parent
    if parent is None:
        raise ValueError(f"site {destination} is not below the central site {here}")
    return parent


def route(hierarchy: Hierarchy, here: str, destination: str, preferred_address: str) -> Route:
    """A direct address if there is one; else the tree's next hop, which a Courier never is.

    Without a Courier address to the destination, a job that prefers the Courier takes the
    Standard Sender's route (`backup`)."""
    if sender_type(preferred_address) is AddressType.COURIER:
        courier = addresses(hierarchy, here, destination, AddressType.COURIER)
        if courier:
            return Route(destination, destination, courier, AddressType.COURIER)
        return attrs.evolve(route(hierarchy, here, destination, "*"), backup=True)
    sender = AddressType.LAN
    direct = addresses(hierarchy, here, destination, sender)
    if direct:
        return Route(destination, destination, direct, sender)
    courier = addresses(hierarchy, here, destination, AddressType.COURIER)
    if courier:
        return Route(destination, destination, courier, sender, courier_only=True)
    hop = next_hop(hierarchy, here, destination)
    return Route(destination, hop, addresses(hierarchy, here, hop, sender), sender)


def read_request(hierarchy: Hierarchy, path: Path) -> SendRequest:
    """A send request from its file; FormatError also for one to a site the lab does not have,
    which no address will ever reach (the file would wait for ever)."""
    request = srq.read(path)
    if request.dest_site not in hierarchy.site_codes:
        raise FormatError(path, f"its destination site {request.dest_site} is not in this lab")
    return request


def share(hierarchy: Hierarchy, site: str) -> str:
    """The ADDRESS a sender connects to: `\\\\<server>\\SMS_SITE` (Q123221)."""
    return f"\\\\{hierarchy.site(site).server}\\SMS_SITE"


def not_from_above(hierarchy: Hierarchy, here: str, source: str) -> str | None:
    """Why an object that `source` made may not change anything at site `here`, or None.

    Advertisements and collections flow down the hierarchy only: the site that owns one is the
    only one that changes it, and only the sites below it take its changes."""
    if source.upper() not in hierarchy.site_codes:
        return f"its source site {source} is not in this lab"
    if source.upper() == here.upper():
        return f"it would change an object of this site ({source}), which only this site changes"
    if source.upper() not in {s.code for s in hierarchy.ancestors(here)}:
        return f"its source site {source} is not above this site"
    return None
