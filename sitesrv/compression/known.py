"""What this process already knows about a file it wrote or read whole: its SHA-256, its verdict.

A PCK is hashed or verified at several steps of a send (the Scheduler's instruction carries its
SHA-256, the receiving Despooler checks that "signature" and the container's checksums before
it stores it). Each of those reads every byte. The steps that produce or read a whole file anyway
(packing, merging, making a delta, a Despooler's check) remember the result here, and
later steps ask first, so a 179 MiB PCK is read once per site instead of three times. A
container's checked manifest is remembered too, so that the Sender's look and the DP installs
of an unchanged PCK do not decode it again; and, by the bytes of its frame, so that each site's
copy of a PCK (another file, renamed on its way to a DP) does not either.

An entry is keyed by the file's identity: device, inode, size and modification time (in ns),
taken before the file is read (or from the open file once written, before it is renamed into
place). A rename or a chmod keeps the identity, so a payload checked in `despoolr.box\\receive`
is still known once it is `SMSPKG\\<PkgID>.PCK`; any write to the file changes its modification
time, and then nothing is trusted: the file is read again. The memory is the process's, so
nothing is written to disk, a crash forgets it, and a restarted site reads each file once more.
A miss only costs a read. A hit trusts the identity: a file changed behind it with its size and
modification time put back (which no writer of a lab does) is not read again, at a Despooler's
retry or at an install onto a DP. A Despooler's retry takes the identity from `lstat` and does
not even open the file: a payload made unreadable while its instruction waited (its permissions
changed) is found out only when it is next read (sent on, or installed onto a DP).

A Sender of this process that copies such a file to another site, with nothing else writing to
either file meanwhile (each range's status before and after), says the same of the copy: the
receiving Despooler, if this process runs it, checks the copy's trailer and manifest and finds
its body already known, so each site's copy is read once (its DP install) instead of twice.

A PCK whose every checksum this process wrote or checked (packed, merged, or installed onto a
DP with every file hashed) also vouches for its SHA-256: a copy with the same SHA-256 (the same
bytes, sent on to a child site that this process also runs) needs no file hashed again when it
is installed, once its Despooler has checked it. A PCK whose manifest misdeclares a file is
never vouched for, so each of its installs still finds the file out.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

from sitesrv.compression.manifest import Manifest
from sitesrv.files.regular import open_regular

CHUNK = 1 << 20
DIGESTS = 1024  # small entries, a hash and a key each (0.8 MiB for the three memos full): a
# package's copies at 300 sites fit, each remembered from its Sender's copy to its DP install
# Verdicts weigh one plus the entries of their manifest (a few hundred bytes each): the newest
# is always kept, older ones go while the total weighs more than this (17 MiB measured with
# 30-character paths: docs/limits.md). Packages waiting for their information (error 12) keep
# their verdicts across retries.
VERDICT_WEIGHT = 50_000

Identity = tuple[int, int, int, int]
# Every file's and the body's SHA-256 are this process's own (it wrote them, or checked
# them all, in this file or in another with the same SHA-256).
WHOLE = "whole"
BODY = "body"  # the compressed body's SHA-256 was checked against the trailer
V = TypeVar("V")


def identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Memo(Generic[V]):
    """A small thread-safe map that forgets its oldest entries (components run in threads)
    while their total weight is over `limit`; the newest entry is always kept."""

    def __init__(self, limit: int, weigh: Callable[[V], int] = lambda _: 1) -> None:
        self._limit = limit
        self._weigh = weigh
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._weight = 0

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            found = self._items.get(key)
            return None if found is None else found[0]

    def put(self, key: Hashable, value: V, *, keep: bool = False) -> None:
        """Remember `value` for `key`; with `keep`, not over a value already there."""
        weight = self._weigh(value)
        with self._lock:
            if keep and key in self._items:
                return
            old = self._items.pop(key, None)
            if old is not None:
                self._weight -= old[1]
            self._items[key] = (value, weight)
            self._weight += weight
            while self._weight > self._limit and len(self._items) > 1:
                self._weight -= self._items.popitem(last=False)[1][1]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weight = 0


def _verdict_weight(verdict: object) -> int:
    manifest = verdict if isinstance(verdict, Manifest) else getattr(verdict, "manifest", None)
    return 1 + (len(manifest.entries) if manifest is not None else 0)


_digests: Memo[str] = Memo(DIGESTS)
_whole: Memo[str] = Memo(DIGESTS)  # WHOLE or BODY, by (identity, package, version)
_vouched: Memo[bool] = Memo(DIGESTS)  # SHA-256 (hex) of PCKs known WHOLE
# Verdicts, and checked manifests (under MANIFEST), in one budget.
_verdicts: Memo[object] = Memo(VERDICT_WEIGHT, _verdict_weight)
MANIFEST = "manifest"
# Manifests by their frame's bytes (`remember_frame`): each weighs a share of the budget
# plus its entries, so at most FRAMES frames of at most FRAME_BYTES (4 MiB) are kept, with at
# most FRAME_ENTRIES entries in all.
FRAMES = 256
FRAME_BYTES = 16 << 10
FRAME_ENTRIES = 20_000
_frames: Memo[Manifest] = Memo(FRAME_ENTRIES, lambda m: FRAME_ENTRIES // FRAMES + len(m.entries))


def remember(ident: Identity, sha256: str) -> None:
    """The file with this identity has this SHA-256 (hex)."""
    _digests.put(ident, sha256)


def known_sha256(ident: Identity) -> str | None:
    return _digests.get(ident)


def remember_whole(ident: Identity, sha256: str, package_id: str, version: int) -> None:
    """The file with this identity is a PCK of that package and version whose every entry
    and checksum this process wrote (packed, merged) or checked (read whole, every file's
    SHA-256 hashed and holding: `ContainerReader.content`), with this SHA-256, which it then
    vouches for (`remember_body`)."""
    remember(ident, sha256)
    _whole.put((ident, package_id, version), WHOLE)
    _vouched.put(sha256, True)


def remember_body(ident: Identity, sha256: str, package_id: str, version: int) -> None:
    """The file with this identity is a PCK of that package and version whose compressed body
    this process checked against its trailer (a Despooler's check), with this SHA-256: WHOLE
    if a file with the same SHA-256 was, as the same bytes are."""
    remember(ident, sha256)
    verdict = WHOLE if _vouched.get(sha256) else BODY
    _whole.put((ident, package_id, version), verdict, keep=verdict == BODY)  # WHOLE says more


def known_pck(ident: Identity, package_id: str, version: int) -> str | None:
    """What this process knows of the PCK with this identity: WHOLE (`remember_whole`: an
    install onto a DP need not hash any byte again, compression.distpoint), BODY
    (`remember_body`: only its files need hashing), or None (everything)."""
    return _whole.get((ident, package_id, version))


def file_sha256(path: Path | str) -> tuple[int, str]:
    """Size and SHA-256 (hex) of a file: remembered if its identity is known, else streamed.
    Only a regular file is read (files.regular): a FIFO or a link is NotRegularFile."""
    with open_regular(path) as f:
        ident = identity(os.fstat(f.fileno()))
        sha = known_sha256(ident)
        if sha is not None:
            return ident[2], sha
        digest = hashlib.sha256()
        size = 0
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    if size == ident[2]:  # else it changed while it was read: do not vouch for either
        remember(ident, digest.hexdigest())
    return size, digest.hexdigest()


def remember_verdict(key: Hashable, verdict: object) -> None:
    """What verifying the file (identity, and what was expected of it) found."""
    _verdicts.put(key, verdict)


def known_verdict(key: Hashable) -> object | None:
    return _verdicts.get(key)


def remember_manifest(key: Hashable, manifest: Manifest) -> None:
    """The manifest that reading and checking the file (`ContainerReader.manifest`) found, by
    the file's identity, its ctime (a rename is not trusted here: the file's name may be all
    that kept it the same) and its trailer's bytes; weighed and forgotten with the verdicts."""
    _verdicts.put((MANIFEST, key), manifest)


def known_manifest(key: Hashable) -> Manifest | None:
    found = _verdicts.get((MANIFEST, key))
    return found if isinstance(found, Manifest) else None


def remember_frame(key: tuple[bytes, bytes], manifest: Manifest) -> None:
    """The manifest that decoding and checking a manifest frame of at most `FRAME_BYTES`
    found, by the frame's compressed bytes and the trailer's bytes: it depends on nothing else,
    so any file holding those bytes holds that manifest, whatever its name or identity."""
    _frames.put(key, manifest)


def known_frame(key: tuple[bytes, bytes]) -> Manifest | None:
    return _frames.get(key)


def forget_all() -> None:
    """Drop everything remembered (tests; `sitesrv` never needs it)."""
    _digests.clear()
    _whole.clear()
    _vouched.clear()
    _verdicts.clear()
    _frames.clear()
