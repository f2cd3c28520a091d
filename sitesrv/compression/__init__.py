"""Compressed package files: `<PkgID>.PCK` (a whole source version) and `<PkgID>.DLT.<n>`.

Distribution Manager packs and installs, the Despooler checks and merges, tools inspect.
Everything streams, so memory does not grow with package size. Formats: docs/formats.md.
"""

from sitesrv.compression.delta import make_delta, merge, needs_full_package
from sitesrv.compression.distpoint import (
    FolderAccessDenied,
    Recovery,
    UpdateMode,
    extract,
    install,
    recover_installs,
)
from sitesrv.compression.errors import (
    BaseMissingError,
    CorruptError,
    MergeBaseError,
    PackageLimitError,
    PackageMismatchError,
    PckError,
    TrailerError,
    UnsafeEntryError,
    WrongBaseError,
)
from sitesrv.compression.manifest import DeltaInfo, DirEntry, FileEntry, Manifest
from sitesrv.compression.pck import Checked, PackResult, check, pack, read_manifest, verify

__all__ = [
    "BaseMissingError",
    "Checked",
    "CorruptError",
    "DeltaInfo",
    "DirEntry",
    "FileEntry",
    "FolderAccessDenied",
    "Manifest",
    "MergeBaseError",
    "PackResult",
    "PackageLimitError",
    "PackageMismatchError",
    "PckError",
    "Recovery",
    "TrailerError",
    "UnsafeEntryError",
    "UpdateMode",
    "WrongBaseError",
    "check",
    "extract",
    "install",
    "make_delta",
    "merge",
    "needs_full_package",
    "pack",
    "read_manifest",
    "recover_installs",
    "verify",
]
