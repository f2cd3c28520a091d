"""Package source folders as the site servers name them: a Windows path for a local folder.

A package's source is a folder on this machine, but SMS's table, logs and status messages name
it as the site server reads it: `C:\\packages\\offxp` (Q328651) or `\\\\SERVER\\Share\\offxp`.
Three kinds of mapping, tried in this order (docs/hierarchy.md, "package_sources"):
1. `package_sources:` in hierarchy.yaml: a local folder and its Windows path;
2. the lab's folder is `\\\\<central site server>\\PkgSource`, and the folder that holds it
   `\\\\<central site server>\\Sources`, so the demo's, the scenarios' and the tests' sources
   need no declaration, and name the same whatever the lab's folder is called;
3. any other folder the console is given is shared, as an administrator shares a source folder
   for SMS to read: `\\\\<central site server>\\<folder name>` (`_2`, `_3`... if taken), kept in
   `LAB/source-shares.json` (a link or anything but a file under that name stops the share,
   naming it: files/regular.check_state_file).
SMSPackages.Source holds the Windows form; Distribution Manager reads the folder it names
through the same mappings.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import attrs

from sitesrv.files.atomic import Durability, replace_file
from sitesrv.files.oslock import file_locked
from sitesrv.files.regular import check_state_file, read_limited
from sitesrv.lab.hierarchy import Hierarchy, SourceMapping

LAB_SHARE = "PkgSource"  # the lab's folder, on the central site server
BESIDE_SHARE = "Sources"  # the folder that holds the lab
SHARES_FILE = "source-shares.json"  # in the lab folder: the shares the console made
SHARES_LOCK = f".{SHARES_FILE}.lock"  # beside it, held while a share is added
SHARES_FILE_BYTES = 1 << 20
# A Windows path as a package source may be given: a drive path or a UNC path to a share.
WINDOWS_PATH = re.compile(r"[A-Za-z]:\\.*|\\\\[^\\]+\\[^\\]+.*")
_NOT_IN_SHARE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_SHARE_NAME = 80  # Windows share names: up to 80 characters


def is_windows_path(text: str) -> bool:
    return bool(WINDOWS_PATH.fullmatch(text))


@attrs.frozen
class SourceFolders:
    """The lab's mappings from local folders to the Windows paths the site servers use."""

    mappings: tuple[SourceMapping, ...]
    server: str  # the central site server, where the default and the console's shares are

    @classmethod
    def of(cls, lab_root: Path, hierarchy: Hierarchy) -> SourceFolders:
        """The declared mappings (relative folders are below the folder that holds the lab),
        the lab's folder and the one that holds it, then the shares the console made."""
        lab = Path(lab_root).resolve()
        server = hierarchy.central.server
        declared = tuple(attrs.evolve(m, folder=str((lab.parent / m.folder).resolve()))
                         for m in hierarchy.package_sources)
        defaults = (SourceMapping(folder=str(lab), path=f"\\\\{server}\\{LAB_SHARE}"),
                    SourceMapping(folder=str(lab.parent), path=f"\\\\{server}\\{BESIDE_SHARE}"))
        return cls((*declared, *defaults, *_read_shares(lab_root)), server)

    def windows(self, folder: Path | str) -> str | None:
        """The Windows path of a local folder; None if it is in no mapped folder."""
        path = Path(folder).resolve()
        for mapping in self.mappings:
            if path.is_relative_to(mapping.folder):
                rest = path.relative_to(mapping.folder).parts
                return "\\".join((mapping.path.rstrip("\\"), *rest)) if rest else mapping.path
        return None

    def local(self, windows_path: str) -> Path | None:
        """The local folder a Windows path of a mapping names (compared without case, as
        Windows does); None if no mapping names it or it would climb out of one."""
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
        or a local path as a sitesrv before Windows source paths wrote it."""
        if is_windows_path(source):
            return self.local(source)
        return Path(source) if source else None

    def shown(self, source: str) -> str:
        """SMSPackages.Source as the logs show it: the Windows form (a local path an older
        sitesrv wrote is mapped, or shown by its folder name on the central site server)."""
        if not source or is_windows_path(source):
            return source
        return self.windows(source) or f"\\\\{self.server}\\{_share_name(Path(source).name)}"

    def share(self, lab_root: Path, folder: Path, durability: Durability) -> str:
        """The Windows path of a package source the console was given: through a mapping, or
        a new share of its folder on the central site server, kept in the lab."""
        found = self.windows(folder)
        if found is not None:
            return found
        folder = folder.resolve()
        file = Path(lab_root) / SHARES_FILE
        # Read, add, replace under the lock: two consoles at once keep both their shares.
        with file_locked(file.with_name(SHARES_LOCK), "to add a package source share",
                         "Another 'sitesrv package' command may be stuck; try again."):
            check_state_file(file)  # a link there: never read as none and replaced
            shares = _read_shares(lab_root)
            found = SourceFolders(shares, self.server).windows(folder)  # shared meanwhile
            if found is not None:
                return found
            taken = {m.path.upper() for m in (*self.mappings, *shares)}
            name = _share_name(folder.name)
            path, n = f"\\\\{self.server}\\{name}", 1
            while path.upper() in taken:
                n += 1
                path = f"\\\\{self.server}\\{name[:MAX_SHARE_NAME - 6]}_{n}"
            shares = (*shares, SourceMapping(folder=str(folder), path=path))
            data = {"shares": [{"folder": m.folder, "path": m.path} for m in shares]}
            replace_file(file, (json.dumps(data, indent=1) + "\n").encode("utf-8"), durability,
                         tmp=file.with_name(f".{SHARES_FILE}.{os.getpid()}.tmp"))
        return path


def _share_name(folder_name: str) -> str:
    return (_NOT_IN_SHARE_NAME.sub("_", folder_name).strip("._") or "Source")[:MAX_SHARE_NAME]


def _read_shares(lab_root: Path) -> tuple[SourceMapping, ...]:
    """The console's shares; none if the file is missing or does not read (a share then
    has to be made again, and a package whose source it named reports its folder missing)."""
    try:
        raw = json.loads(read_limited(Path(lab_root) / SHARES_FILE, SHARES_FILE_BYTES))
        return tuple(SourceMapping(folder=str(s["folder"]), path=str(s["path"]))
                     for s in raw["shares"])
    except (OSError, ValueError, KeyError, TypeError):
        return ()
