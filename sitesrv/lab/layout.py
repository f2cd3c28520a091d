"""Where things are in a lab on disk, and how SMS would spell those paths in its logs.

The lab layout is a contract (docs/architecture.md): users' tools read and write these folders, so
every path a component touches is derived here and nowhere else. Log text shows the Windows form
(`E:\\SMS\\inboxes\\...`, `\\\\MGMT03\\SMS_SITE\\...`) from the site's drive letters and server.

A Windows path read from a file (a send request's ADDRESS, PACKAGE FILE and INSTRUCTION FILE, a
job's transfer root) comes from an inbox, which anyone can write to. `resolve` maps it into the
lab only below the share or drive it names: a part that could climb out or name another root
(`..`, `.`, `/`, `:`, a control character, a name Windows would shorten by its trailing dots or
spaces) and a symbolic link on the way are refused with `PathRefused`.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from pathlib import Path, PurePath

import attrs

from sitesrv.errors import UserError
from sitesrv.files.names import escaped_name, is_windows_name
from sitesrv.files.pathtext import join
from sitesrv.lab.boxes import (
    CORRUPT_DIR,
    DESPOOLER_RECEIVE,
    NAMED,
    REPLMGR_READY,
    SCHEDULE_TOSEND,
    WORK_DIR,
)
from sitesrv.lab.hierarchy import DistributionPoint, Hierarchy, Site
from sitesrv.lab.sources import SourceFolders

HIERARCHY_COPY = "hierarchy.yaml"
BUILDING_MARKER = ".building"  # in the lab folder while `sitesrv init` builds it
EVENTS_FILE = "events.jsonl"
MEDIA_DIR = "media"
SMSPKG = "SMSPKG"  # the compressed package store, on the package drive
DP_PERMISSIONS_DIR = "dp_permissions"  # in <SITE>\\SMS\\state: a file per DP changed since init
_SHOWN_REMEMBERED = 5_000  # folders whose Windows (and UNC) spelling a site remembers, each
_SHOWN_LONGEST = 260  # ... each of at most Windows' MAX_PATH characters: under 7 MiB in all
# A part of a Windows path that is not a plain name below its parent.
_UNSAFE_PART = re.compile(r"^[. ]*$|[/:\x00-\x1f]|[. ]$")


class PathRefused(UserError):
    """A Windows path that would lead out of the share or drive it names, or through a link."""


def below(base: Path, parts: list[str], windows_path: str) -> Path:
    """`base` joined with `parts`, each a plain name, with no symbolic link on the way.

    Raises PathRefused for a part that is not a plain name, or a link at or below `base`.
    """
    for part in parts:
        if _UNSAFE_PART.search(part):
            raise PathRefused(f"{windows_path} is refused: \"{part}\" is not a plain file or "
                              "folder name (sitesrv never follows a path out of its share)")
    # Each step joined as text, and one Path made at the end: a send names a path at each hop.
    path = os.fspath(base)
    for part in parts:
        path = join(path, part)
        if os.path.islink(path):
            raise PathRefused(f"{windows_path} is refused: its part \"{part}\" is a symbolic "
                              "link, and sitesrv never follows one read from a file")
    return Path(path) if parts else base


@attrs.frozen
class SiteLayout:
    """All paths of one site inside a lab."""

    lab: Path
    site: Site

    @functools.cached_property
    def root(self) -> Path:
        """The site server: its drives' contents live here."""
        return self.lab / self.site.code

    @functools.cached_property
    def sms(self) -> Path:
        return self.root / "SMS"

    @functools.cached_property
    def inboxes(self) -> Path:
        return self.sms / "inboxes"

    @functools.cached_property
    def logs(self) -> Path:
        return self.sms / "Logs"

    @property
    def database(self) -> Path:
        return self.sms / "site.db"

    @functools.cached_property
    def state_dir(self) -> Path:
        """Site-local state that SMS keeps in the registry or, at secondaries, instead of SQL."""
        return self.sms / "state"

    @functools.cached_property
    def smspkg(self) -> Path:
        return self.root / SMSPKG

    @property
    def cap_share(self) -> str:
        """`CAP_<SITE>`: the client access point's folder and share name (Q293187)."""
        return f"CAP_{self.site.code}"

    @property
    def cap(self) -> Path:
        return self.root / self.cap_share

    @functools.cached_property
    def receive(self) -> Path:
        """despoolr.box\\receive, shared as SMS_SITE: other sites' senders write here."""
        return self.inbox(DESPOOLER_RECEIVE)

    @functools.cached_property
    def transfer_folders(self) -> tuple[Path, ...]:
        """Where the files this site's jobs send live: compressed packages, ready replication
        batches, and payloads routed through this site (with the instructions that go along)."""
        return (self.smspkg, self.inbox(REPLMGR_READY), self.inbox(SCHEDULE_TOSEND))

    def inbox(self, relative: str) -> Path:
        """An inbox folder from its SMS name, e.g. `distmgr.box\\INCOMING`."""
        path = self._inbox_paths.get(relative)
        if path is None:  # made once: components ask for their inboxes in every unit
            path = self.inboxes.joinpath(*relative.replace("\\", "/").split("/"))
            self._inbox_paths[relative] = path
        return path

    @functools.cached_property
    def _inbox_paths(self) -> dict[str, Path]:
        return {}

    def inbox_named(self, name: str) -> Path:
        """The inbox a person names in any letter case, as Windows finds it (`DISTMGR.BOX\\incoming`
        is `distmgr.box\\INCOMING`): a folder below `SMS\\inboxes`, or an inbox SMS makes when
        first needed. A UserError names the site's inboxes if there is no such inbox."""
        wanted = name.replace("/", "\\").strip("\\").upper()
        known = self.inbox_names()
        for known_name in known:
            if known_name.upper() == wanted:
                return self.inbox(known_name)
        raise UserError(f"Site {self.site.code} has no inbox \"{name}\"; its inboxes are "
                        f"{', '.join(known)}. Name one of them (in any letter case).")

    def inbox_names(self) -> list[str]:
        """The site's inboxes by SMS name, sorted: the folders below `SMS\\inboxes` as spelt on
        disk (not the `.work` and `corrupt` folders kept in them), and those not made yet."""
        on_disk = {}
        for folder, subfolders, _ in os.walk(self.inboxes):
            subfolders[:] = sorted(d for d in subfolders
                                   if d not in (WORK_DIR, CORRUPT_DIR) and not d.startswith("."))
            relative = os.path.relpath(folder, self.inboxes)
            if relative != os.curdir:
                sms_name = relative.replace(os.sep, "\\")
                on_disk[sms_name.upper()] = sms_name
        named = {n.upper(): n for n in NAMED}
        return sorted({**named, **on_disk}.values(), key=str.upper)

    def log(self, name: str) -> Path:
        return self.logs / name

    def dp_root(self, dp: DistributionPoint) -> Path:
        """The folder that holds `<PkgID>` folders on that DP's share."""
        return self.root.joinpath("dp", dp.server, *dp.share_parts)

    def dp_package(self, dp: DistributionPoint, package_id: str) -> Path:
        return self.dp_root(dp) / package_id

    def dp_permissions(self, dp: DistributionPoint) -> Path:
        """The DP's share permissions as `sitesrv dp permissions` last changed them."""
        return self.state_dir / DP_PERMISSIONS_DIR / f"{dp.server}.json"

    def windows(self, path: Path | str) -> str:
        """The path as the site server's own logs would show it.

        `<SITE>/SMS/...` is on the SMS drive; everything else on the site root (SMSPKG,
        `_S xxxxx.TMP`, CAP_<SITE>) is on the package drive; DP shares are UNC paths. A name no
        Windows file name could be is shown escaped (files/names.py): it never breaks a line.
        """
        return self._spelt(os.fspath(path), self._windows_of, self._windows_folders)

    def _windows_of(self, parts: tuple[str, ...]) -> str:
        """`windows` of a path by its parts below the site root, as `_parts` shows them."""
        if parts and parts[0] == "dp" and len(parts) >= 2:
            return "\\\\" + "\\".join(parts[1:])
        drive = self.site.drive if parts and parts[0] == "SMS" else self.site.package_drive
        return f"{drive}:\\" + "\\".join(parts)

    def _spelt(self, text: str, spell: Callable[[tuple[str, ...]], str],
               folders: dict[str, str]) -> str:
        """`spell` of the path `text`: a name below a folder (the usual path) is the folder's
        spelling, remembered, and the name.

        Log lines name thousands of files each once or twice, in a few dozen folders: splitting
        and checking each path whole cost more than the line. A folder's spelling depends on its
        text alone; one whose names are not spelt by adding them (`_composes`) is remembered as
        "", and a name that is not one plain part ("", ".", one with `altsep`) is spelt whole."""
        folder, sep, name = text.rpartition(os.sep)
        if sep and name and name != "." and not (os.altsep and os.altsep in name):
            above = folders.get(folder)
            if above is None:
                above = self._folder_spelling(folder, spell)
                if len(folder) <= _SHOWN_LONGEST:
                    if len(folders) >= _SHOWN_REMEMBERED:
                        folders.clear()
                    folders[folder] = above
            if above:
                return f"{above}\\{name if is_windows_name(name) else escaped_name(name)}"
        return spell(self._parts(text, shown=True))

    def _folder_spelling(self, folder: str, spell: Callable[[tuple[str, ...]], str]) -> str:
        """`spell` of `folder`, or "" if the names in it are not spelt as it and the name."""
        try:
            parts = self._parts(folder, shown=True)
        except ValueError:  # outside the site: so is any name in it
            return ""
        return spell(parts) if self._composes(parts) else ""

    def _composes(self, parts: tuple[str, ...]) -> bool:
        """Whether every rule of `windows` and `unc` decides a name in the folder of these parts
        as it decides the folder: not the site root or `dp` (a server below it is a UNC root),
        nor a folder above the receive folder (a name in it may be the receive folder)."""
        if not parts or parts == ("dp",):
            return False
        receive = self._receive_parts
        return len(parts) >= len(receive) or parts != receive[:len(parts)]

    @functools.cached_property
    def _windows_folders(self) -> dict[str, str]:
        return {}

    @functools.cached_property
    def _unc_folders(self) -> dict[str, str]:
        return {}

    @functools.cached_property
    def _root_prefix(self) -> str:
        return os.path.join(self.root, "")

    @functools.cached_property
    def _receive_parts(self) -> tuple[str, ...]:
        """The receive folder's parts, as `unc` compares every path it shows with them."""
        return self._parts(self.receive)

    def _parts(self, path: Path | str, *, shown: bool = False) -> tuple[str, ...]:
        """The parts of a path below the site root (ValueError if it is not below it); `shown`:
        each as a log line shows it, a name no Windows file name could be escaped (files.names).

        Logs name a path in almost every line, so the common case, a path this lab built, is
        split as text; anything else goes through PurePath."""
        text = os.fspath(path)
        if text.startswith(self._root_prefix) and not (os.altsep and os.altsep in text):
            parts = tuple(text[len(self._root_prefix):].split(os.sep))
            if "" in parts or "." in parts:
                parts = tuple(p for p in parts if p not in ("", "."))
        else:
            parts = PurePath(path).relative_to(self.root).parts
        if not shown or all(map(is_windows_name, parts)):  # the common case: cheap to tell
            return parts
        return tuple(map(escaped_name, parts))

    def unc(self, path: Path | str) -> str:
        """The path as another site sees it over the network.

        Paths inside despoolr.box\\receive go through the SMS_SITE share; others inside SMS
        through SMS_<SITE>; SMSPKG through the SMS_CPS<drive>$ share of the compressed packages;
        the client access point through its CAP_<SITE> share.
        """
        return self._spelt(os.fspath(path), self._unc_of, self._unc_folders)

    def _unc_of(self, parts: tuple[str, ...]) -> str:
        """`unc` of a path by its parts below the site root, as `_parts` shows them."""
        server = f"\\\\{self.site.server}"
        receive = self._receive_parts
        if parts[: len(receive)] == receive:
            return "\\".join([server, "SMS_SITE", *parts[len(receive):]])
        if parts and parts[0] == "SMS":
            return "\\".join([server, f"SMS_{self.site.code}", *parts[1:]])
        if parts and parts[0] == SMSPKG:
            return "\\".join([server, f"SMS_CPS{self.site.package_drive}$", *parts[1:]])
        if parts and parts[0] == self.cap_share:
            return "\\".join([server, *parts])
        if parts and parts[0] == "dp":
            return "\\\\" + "\\".join(parts[1:])
        return "\\".join([server, f"{self.site.package_drive}$", *parts])

    def resolve_local(self, windows_path: str) -> Path:
        """The lab path of a drive-letter path as this site server spells it (inverse of windows)."""
        drive, _, rest = windows_path.partition(":\\")
        parts = [p for p in rest.split("\\") if p]
        if len(drive) != 1 or drive.upper() not in (self.site.drive, self.site.package_drive):
            raise UserError(f"{windows_path} is not a path on site server {self.site.server} "
                            f"(its drives are {self.site.drive}: and {self.site.package_drive}:)")
        if drive.upper() == self.site.drive and parts[:1] == ["SMS"]:
            return below(self.root, parts, windows_path)
        if drive.upper() == self.site.package_drive:
            return below(self.root, parts, windows_path)
        raise UserError(f"{windows_path} is outside the folders sitesrv emulates on "
                        f"{self.site.server}")


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

    @functools.cached_property
    def _layouts(self) -> dict[str, SiteLayout]:
        """Each site's layout, made once: its paths are cached in it, and a 300-site lab asks
        for every site's (a Sender checking a request's address) at every send."""
        return {s.code: SiteLayout(self.root, s) for s in self.hierarchy.sites}

    @functools.cached_property
    def _on_server(self) -> dict[str, tuple[SiteLayout, ...]]:
        """The sites with a share on each server (their own, or a DP's), in the lab's order:
        `resolve` is asked at every send, and walking every site for it grew with the square
        of the sites."""
        on: dict[str, list[SiteLayout]] = {}
        for layout in self._layouts.values():
            for server in {layout.site.server, *(dp.server for dp in layout.site.distribution_points)}:
                on.setdefault(server, []).append(layout)
        return {server: tuple(found) for server, found in on.items()}

    def site(self, code: str) -> SiteLayout:
        try:
            return self._layouts[code.upper()]
        except KeyError:
            self.hierarchy.site(code)  # the UserError that names the lab's sites
            raise

    @property
    def sources(self) -> SourceFolders:
        """Package source folders and the Windows paths the site servers name them by."""
        return SourceFolders.of(self.root, self.hierarchy)

    def sites(self) -> list[SiteLayout]:
        return list(self._layouts.values())

    def resolve(self, windows_path: str, at: str | None = None) -> Path:
        """The lab path of a Windows path from a log or instruction file.

        UNC paths (`\\\\MGMT03\\SMS_SITE\\x.SNI`, `\\\\REMOTE_DP\\smsapps\\...`) are found by server
        name; drive-letter paths need the site `at` whose server spells them.
        """
        if not windows_path.startswith("\\\\"):
            if at is None:
                raise UserError(f"{windows_path} is a local path; say which site's server it is on")
            return self.site(at).resolve_local(windows_path)
        parts = [p for p in windows_path[2:].split("\\") if p]
        if len(parts) < 2:
            raise UserError(f"{windows_path} is not a UNC path to a share")
        server, share, rest = parts[0].upper(), parts[1], parts[2:]
        for site in self._on_server.get(server, ()):
            s = site.site
            if s.server == server:
                if share.upper() == "SMS_SITE":
                    return below(site.receive, rest, windows_path)
                if share.upper() == f"SMS_{s.code}":
                    return below(site.sms, rest, windows_path)
                if share.upper() == f"SMS_CPS{s.package_drive}$":
                    return below(site.smspkg, rest, windows_path)
                if share.upper() in (f"{s.drive}$", f"{s.package_drive}$"):
                    return below(site.root, rest, windows_path)
            for dp in s.distribution_points:
                n = len(dp.share_parts)
                if dp.server == server and [p.upper() for p in parts[1:1 + n]] == [
                        p.upper() for p in dp.share_parts]:
                    return below(site.dp_root(dp), parts[1 + n:], windows_path)
        raise UserError(f"{windows_path} names no share of a server in this lab")
