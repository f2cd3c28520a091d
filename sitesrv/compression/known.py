"""What this process already knows about a file it wrote or read whole: its SHA-256, its verdict.

A PCK is hashed or verified at several steps of a send (the Scheduler's instruction carries its
SHA-256, the receiving Despooler checks that "signature" and verifies the container before it
stores it). Each of those reads every byte. The steps that produce or read a whole file anyway
(packing, merging, making a delta, a Despooler's verification) remember the result here, and
later steps ask first, so a 179 MiB PCK is read once per site instead of three times.

An entry is keyed by the file's identity: device, inode, size and modification time (in ns),
taken before the file is read (or from the open file once written, before it is renamed into
place). A rename or a chmod keeps the identity, so a payload verified in `despoolr.box\\receive`
is still known once it is `SMSPKG\\<PkgID>.PCK`; any write to the file changes its modification
time, and then nothing is trusted: the file is read again. The memory is the process's, so
nothing is written to disk, a crash forgets it, and a restarted site reads each file once more.
Outcomes never depend on it: a miss only costs a read.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import Generic, TypeVar

from sitesrv.files.regular import open_regular

CHUNK = 1 << 20
DIGESTS = 256  # small entries: a hash and a key each
VERDICTS = 8  # a verified manifest lists every file of the package

Identity = tuple[int, int, int, int]
V = TypeVar("V")


def identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Memo(Generic[V]):
    """A small thread-safe map that forgets its oldest entries (components run in threads)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_digests: Memo[str] = Memo(DIGESTS)
_verdicts: Memo[object] = Memo(VERDICTS)


def remember(ident: Identity, sha256: str) -> None:
    """The file with this identity has this SHA-256 (hex)."""
    _digests.put(ident, sha256)


def known_sha256(ident: Identity) -> str | None:
    return _digests.get(ident)


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


def forget_all() -> None:
    """Drop everything remembered (tests; `sitesrv` never needs it)."""
    _digests.clear()
    _verdicts.clear()
