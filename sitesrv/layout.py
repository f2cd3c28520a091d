"""Where things are in a lab on disk, and how SMS would spell those paths in its logs.

The lab layout is a contract (ARCHITECTURE.md): users' tools read and write these folders, so
every path a component touches is derived here and nowhere else. Log text shows the Windows form
(`E:\\SMS\\inboxes\\...`, `\\\\MGMT03\\SMS_SITE\\...`) from the site's drive letters and server.
"""

from __future__ import annotations

from pathlib import Path, PurePath

import attrs

from sitesrv.hierarchy import DistributionPoint, Hierarchy, Site

HIERARCHY_COPY = "hierarchy.yaml"
EVENTS_FILE = "events.jsonl"
MEDIA_DIR = "media"


@attrs.frozen
class SiteLayout:
    """All paths of one site inside a lab."""

    lab: Path
    site: Site

    @property
    def root(self) -> Path:
        """The site server: its drives' contents live here."""
        return self.lab / self.site.code

    @property
    def sms(self) -> Path:
        return self.root / "SMS"

    @property
    def inboxes(self) -> Path:
        return self.sms / "inboxes"

    @property
    def logs(self) -> Path:
        return self.sms / "Logs"

    @property
    def database(self) -> Path:
        return self.sms / "site.db"

    @property
    def state_dir(self) -> Path:
        """Site-local state that SMS keeps in the registry or, at secondaries, instead of SQL."""
        return self.sms / "state"

    @property
    def smspkg(self) -> Path:
        return self.root / "SMSPKG"

    @property
    def cap(self) -> Path:
        return self.root / f"CAP_{self.site.code}"

    @property
    def receive(self) -> Path:
        """despoolr.box\\receive, shared as SMS_SITE: other sites' senders write here."""
        return self.inboxes / "despoolr.box" / "receive"

    def inbox(self, relative: str) -> Path:
        """An inbox folder from its SMS name, e.g. `distmgr.box\\INCOMING`."""
        return self.inboxes.joinpath(*relative.replace("\\", "/").split("/"))

    def log(self, name: str) -> Path:
        return self.logs / name

    def dp_root(self, dp: DistributionPoint) -> Path:
        """The folder that holds `<PkgID>` folders on that DP's share."""
        return self.root.joinpath("dp", dp.server, *dp.share_parts)

    def dp_package(self, dp: DistributionPoint, package_id: str) -> Path:
        return self.dp_root(dp) / package_id

    def windows(self, path: Path | str) -> str:
        """The path as the site server's own logs would show it.

        `<SITE>/SMS/...` is on the SMS drive; everything else on the site root (SMSPKG,
        `_S xxxxx.TMP`, CAP_<SITE>) is on the package drive; DP shares are UNC paths.
        """
        rel = PurePath(path).relative_to(self.root)
        parts = rel.parts
        if parts and parts[0] == "dp" and len(parts) >= 2:
            return "\\\\" + "\\".join(parts[1:])
        drive = self.site.drive if parts and parts[0] == "SMS" else self.site.package_drive
        return f"{drive}:\\" + "\\".join(parts)

    def unc(self, path: Path | str) -> str:
        """The path as another site sees it over the network.

        Paths inside despoolr.box\\receive go through the SMS_SITE share; others inside SMS
        through SMS_<SITE>; SMSPKG through the SMS_CPS<drive>$ share of the compressed packages.
        """
        rel = PurePath(path).relative_to(self.root)
        server = f"\\\\{self.site.server}"
        receive = self.receive.relative_to(self.root)
        if rel.parts[: len(receive.parts)] == receive.parts:
            tail = rel.parts[len(receive.parts):]
            return "\\".join([server, "SMS_SITE", *tail])
        if rel.parts and rel.parts[0] == "SMS":
            return "\\".join([server, f"SMS_{self.site.code}", *rel.parts[1:]])
        if rel.parts and rel.parts[0] == "SMSPKG":
            return "\\".join([server, f"SMS_CPS{self.site.package_drive}$", *rel.parts[1:]])
        if rel.parts and rel.parts[0] == "dp":
            return "\\\\" + "\\".join(rel.parts[1:])
        return "\\".join([server, f"{self.site.package_drive}$", *rel.parts])


@attrs.frozen
class LabLayout:
    """The whole lab folder."""

    root: Path
    hierarchy: Hierarchy

    @property
    def hierarchy_copy(self) -> Path:
        return self.root / HIERARCHY_COPY

    @property
    def events(self) -> Path:
        return self.root / EVENTS_FILE

    @property
    def media(self) -> Path:
        return self.root / MEDIA_DIR

    def site(self, code: str) -> SiteLayout:
        return SiteLayout(self.root, self.hierarchy.site(code))

    def sites(self) -> list[SiteLayout]:
        return [SiteLayout(self.root, s) for s in self.hierarchy.sites]
