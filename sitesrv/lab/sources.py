"""Package source folders as the site servers name them: a Windows path for a local folder.

A package's source is a folder on this machine, but SMS's table, logs and status messages name
it as the site server reads it: `C:\\packages\\offxp` (Q328651) or `\\\\SERVER\\Share\\offxp`.
`package_sources:` in hierarchy.yaml maps local folders to those names; after the declared
ones, the folder that holds the lab is `\\\\<central site server>\\PkgSource`, so the demo's
and the tests' sources need no declaration (docs/hierarchy.md). SMSPackages.Source holds the
Windows form; Distribution Manager reads the folder it names through the same mapping. A
folder outside every mapping is refused by the console, with how to map it.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from sitesrv.errors import UserError
from sitesrv.lab.hierarchy import Hierarchy, SourceMapping

DEFAULT_SHARE = "PkgSource"  # the lab's parent folder, on the central site server
# A Windows path as a package source may be given: a drive path or a UNC path to a share.
WINDOWS_PATH = re.compile(r"[A-Za-z]:\\.*|\\\\[^\\]+\\[^\\]+.*")


def is_windows_path(text: str) -> bool:
    return bool(WINDOWS_PATH.fullmatch(text))


@attrs.frozen
class SourceFolders:
    """The lab's mappings from local folders to the Windows paths the site servers use."""

    mappings: tuple[SourceMapping, ...]

    @classmethod
    def of(cls, lab_root: Path, hierarchy: Hierarchy) -> SourceFolders:
        """The declared mappings (relative folders are below the folder that holds the lab),
        then the default one."""
        base = Path(lab_root).resolve().parent
        declared = tuple(attrs.evolve(m, folder=str((base / m.folder).resolve()))
                         for m in hierarchy.package_sources)
        default = SourceMapping(folder=str(base),
                                path=f"\\\\{hierarchy.central.server}\\{DEFAULT_SHARE}")
        return cls((*declared, default))

    def windows(self, folder: Path | str) -> str | None:
        """The Windows path of a local folder; None if it is in no mapped folder."""
        path = Path(folder).resolve()
        for mapping in self.mappings:
            if path.is_relative_to(mapping.folder):
                rest = path.relative_to(mapping.folder).parts
                return "\\".join((mapping.path.rstrip("\\"), *rest)) if rest else mapping.path
        return None

    def local(self, windows_path: str) -> Path | None:
        """The local folder a Windows path of a mapping names (Windows' case-insensitive
        comparison); None if no mapping names it or it climbs out of one."""
        for mapping in self.mappings:
            prefix = mapping.path.rstrip("\\")
            if windows_path.upper() == prefix.upper() or windows_path.upper().startswith(
                    prefix.upper() + "\\"):
                parts = [p for p in windows_path[len(prefix):].split("\\") if p]
                if any(p in (".", "..") or "/" in p for p in parts):
                    return None
                return Path(mapping.folder, *parts)
        return None

    def folder_of(self, source: str) -> Path | None:
        """The local folder SMSPackages.Source names: its Windows form through the mappings,
        or a local path as an older sitesrv wrote it."""
        if is_windows_path(source):
            return self.local(source)
        return Path(source) if source else None

    def shown(self, source: str) -> str:
        """SMSPackages.Source as the logs show it: the Windows form (a local path an older
        sitesrv wrote is mapped, if it can be)."""
        if not source or is_windows_path(source):
            return source
        return self.windows(source) or source

    def require_windows(self, folder: Path) -> str:
        """The Windows path of a package source the console was given, or a UserError that
        says how to map its folder."""
        found = self.windows(folder)
        if found is None:
            default = self.mappings[-1]
            raise UserError(
                f"The package source {folder} is in no folder the site servers can name: "
                f"the lab maps {default.folder} (the folder that holds it) to {default.path}, "
                "and its hierarchy.yaml maps "
                + (", ".join(f"{m.folder} to {m.path}" for m in self.mappings[:-1]) or "nothing")
                + ". Put the source there, or add its folder to package_sources: in the lab's "
                "hierarchy.yaml (for example '- {folder: /srv/packages, path: "
                "\\\\MGMT01\\Packages}', docs/hierarchy.md).")
        return found
