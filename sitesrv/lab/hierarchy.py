"""The hierarchy a lab is built from: its sites, their servers and DPs, the addresses between
them, and the settings of the whole lab, as validated records (loader.py reads them from
`hierarchy.yaml`; docs/hierarchy.md documents every key).
"""

from __future__ import annotations

import functools

import attrs

from sitesrv.errors import UserError
from sitesrv.files.atomic import Durability
from sitesrv.lab.shares import DEFAULT_SHARE, SharePermissions
from sitesrv.lab.sizes import DEFAULT_PACKAGE_FILES, DEFAULT_PACKAGE_SIZE
from sitesrv.lab.timing import TimingProfile

AVAILABILITIES = ("open", "medium_and_high", "high_only", "closed")
# Which job priorities (1 high, 2 medium, 3 low) each availability lets through.
ALLOWED_PRIORITIES = {
    "open": (1, 2, 3),
    "medium_and_high": (1, 2),
    "high_only": (1,),
    "closed": (),
}
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DP_UPDATE_MODES = ("delete", "overwrite")
KB936465 = "KB936465"
KNOWN_HOTFIXES = (KB936465,)


@attrs.frozen
class DistributionPoint:
    """A DP: a server and a share; packages live in `<share>\\<PkgID>`."""

    server: str
    share: str = DEFAULT_SHARE
    permissions: SharePermissions = SharePermissions.FULL

    @property
    def share_parts(self) -> tuple[str, ...]:
        """The share name and any sub-folders (`smsapps\\SMSPKG` -> ('smsapps', 'SMSPKG'))."""
        return tuple(p for p in self.share.split("\\") if p)

    def nal_path(self, site_code: str) -> str:
        """SMS's NAL path for this DP, as PkgStatus.PkgServer and the logs show it (Q319189)."""
        return f'MSWNET:["SMS_SITE={site_code}"]\\\\{self.server}\\{self.share}\\'


@attrs.frozen
class Site:
    """One SMS site: its server, its place in the tree, and its distribution points."""

    code: str
    name: str
    server: str
    type: str
    parent: str | None
    drive: str
    package_drive: str
    time_zone_bias: int
    distribution_points: tuple[DistributionPoint, ...]
    hotfixes: frozenset[str]

    @property
    def is_primary(self) -> bool:
        return self.type == "primary"

    def has_hotfix(self, kb: str) -> bool:
        return kb in self.hotfixes

    def dp(self, server: str) -> DistributionPoint | None:
        """The DP on that server (case-insensitive, as Windows names are), if the site has one."""
        for dp in self.distribution_points:
            if dp.server.upper() == server.upper():
                return dp
        return None


@attrs.frozen
class ScheduleBlock:
    """An availability for some days between two times of day (minutes since midnight)."""

    days: frozenset[int]
    start: int
    end: int
    availability: str

    def covers(self, weekday: int, minute: int) -> bool:
        return weekday in self.days and self.start <= minute < self.end


@attrs.frozen
class Address:
    """A sender address from one site to another (SMS 2.0 Help on addresses, docs/sources.md)."""

    from_site: str
    to_site: str
    type: str
    priority: int
    schedule: tuple[ScheduleBlock, ...]
    rate_limit: int | None
    latency: float
    jitter: float = 0.0  # each transfer's latency and rate vary by up to this fraction
    paused: bool = False

    def availability(self, weekday: int, minute: int) -> str:
        """The availability in force at that time: the last block that covers it, else open."""
        if self.paused:
            return "closed"
        found = "open"
        for block in self.schedule:
            if block.covers(weekday, minute):
                found = block.availability
        return found

    def allows(self, job_priority: int, weekday: int, minute: int) -> bool:
        return job_priority in ALLOWED_PRIORITIES[self.availability(weekday, minute)]


@attrs.frozen
class SourceMapping:
    """A local folder and the Windows path the site servers read it by (`package_sources:`)."""

    folder: str  # as written in hierarchy.yaml: absolute, or below the folder holding the lab
    path: str  # `C:\\packages` or `\\\\SERVER\\Share`, with any sub-folders


@attrs.frozen
class SoftwareDistribution:
    """The Software Distribution component's settings (the central site's matter most)."""

    send_from_nearest_site: bool = True
    retries: int = 100
    dp_update_mode: str = "delete"
    # Emulate SMS before KB872943: a file whose attributes changed (read-only flag, mtime) counts
    # as changed and goes into the delta.
    attribute_changes_count: bool = False
    # Emulate the SMS 2.0 problem of Q257318: Distribution Manager at a secondary does not delete
    # a deleted package's advertisements, whose `.ofr` files stay in its `clicfg.src`.
    secondaries_keep_advertisements: bool = False


@attrs.frozen
class SenderSettings:
    """Standard Sender settings (SMS 2.0 Help on the Standard Sender, docs/sources.md)."""

    max_concurrent: int = 5
    max_per_site: int = 3
    retries: int = 2


@attrs.frozen
class PackageLimits:
    """How big a package may be once expanded: `limits:` in hierarchy.yaml (docs/limits.md).

    A compressed package of a few KiB can hold gigabytes of zeros, or a million empty files,
    and every DP of the package would expand it; these bound what one install may write.
    """

    package_size: int = DEFAULT_PACKAGE_SIZE  # bytes: the sum of its files' sizes
    package_files: int = DEFAULT_PACKAGE_FILES  # files; and, separately, folders


DEFAULT_PACKAGE_LIMITS = PackageLimits()


@attrs.frozen
class Hierarchy:
    """A whole lab's configuration, validated."""

    sites: tuple[Site, ...]
    addresses: tuple[Address, ...]
    software_distribution: SoftwareDistribution
    sender: SenderSettings
    durability: Durability
    timing_profile: str
    timing: TimingProfile
    clock_rate: float
    log_max_bytes: int
    limits: PackageLimits = DEFAULT_PACKAGE_LIMITS
    package_sources: tuple[SourceMapping, ...] = ()
    source: str = ""

    # Each look-up below was a walk of every site or address, and the components ask at every
    # unit (a destination's site, its addresses, a site's children): at 300 sites that grew
    # with the square of the sites. Indexes made once per hierarchy (it is frozen).

    @functools.cached_property
    def _by_code(self) -> dict[str, Site]:
        by_code: dict[str, Site] = {}
        for s in self.sites:
            by_code.setdefault(s.code, s)  # the first, as the walk found it
        return by_code

    @functools.cached_property
    def _children(self) -> dict[str | None, tuple[Site, ...]]:
        children: dict[str | None, list[Site]] = {}
        for s in self.sites:
            children.setdefault(s.parent, []).append(s)
        return {parent: tuple(found) for parent, found in children.items()}

    @functools.cached_property
    def _addresses(self) -> dict[tuple[str, str], tuple[Address, ...]]:
        pairs: dict[tuple[str, str], list[Address]] = {}
        for a in self.addresses:
            pairs.setdefault((a.from_site, a.to_site), []).append(a)
        return {pair: tuple(sorted(found, key=lambda a: a.priority))
                for pair, found in pairs.items()}

    @functools.cached_property
    def site_codes(self) -> frozenset[str]:
        """Every site's code, as written in the hierarchy (upper case)."""
        return frozenset(self._by_code)

    def site(self, code: str) -> Site:
        found = self._by_code.get(code.upper())
        if found is not None:
            return found
        known = ", ".join(s.code for s in self.sites)
        raise UserError(f"There is no site {code!r} in this lab; its sites are {known}.")

    @property
    def central(self) -> Site:
        return self._children[None][0]

    def children(self, code: str) -> tuple[Site, ...]:
        return self._children.get(code, ())

    def ancestors(self, code: str) -> tuple[Site, ...]:
        """Parent, grandparent, ... up to the central site."""
        out: list[Site] = []
        site = self.site(code)
        while site.parent is not None:
            site = self.site(site.parent)
            out.append(site)
        return tuple(out)

    def descendants(self, code: str) -> tuple[Site, ...]:
        out: list[Site] = []
        for child in self.children(code):
            out.append(child)
            out.extend(self.descendants(child.code))
        return tuple(out)

    def addresses_between(self, from_site: str, to_site: str) -> tuple[Address, ...]:
        """Addresses from one site to another, best (lowest relative priority) first."""
        return self._addresses.get((from_site, to_site), ())

    def with_address_paused(self, from_site: str, to_site: str, paused: bool) -> Hierarchy:
        if not self.addresses_between(from_site, to_site):
            raise UserError(
                f"There is no address from site {from_site} to site {to_site} in this lab. "
                "List the addresses with 'sitesrv hierarchy' and use one of them."
            )
        addresses = tuple(
            attrs.evolve(a, paused=paused)
            if (a.from_site, a.to_site) == (from_site, to_site)
            else a
            for a in self.addresses
        )
        return attrs.evolve(self, addresses=addresses)


