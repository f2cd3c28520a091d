"""Decompress in a background thread while the caller hashes and writes.

libzstd, hashlib and file writes all release the GIL, so with the decoder one chunk ahead an
install uses two cores, like `zstd -d | tar -x`. The queue is bounded: memory stays a few MiB.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

_DEPTH = 4


class ReadAhead:
    """Wraps `read(n)`; `read` here returns up to n bytes, b'' at the end, and re-raises in
    the caller's thread whatever the background read raised."""

    def __init__(self, read: Callable[[int], bytes], chunk_size: int) -> None:
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=_DEPTH)
        self._stop = threading.Event()
        self._buffer = b""
        self._pos = 0
        self._done = False
        self._thread = threading.Thread(
            target=self._produce, args=(read, chunk_size), name="pck-readahead", daemon=True
        )
        self._thread.start()

    def _produce(self, read: Callable[[int], bytes], chunk_size: int) -> None:
        try:
            while not self._stop.is_set():
                data = read(chunk_size)
                self._put(data)
                if not data:
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def read(self, size: int) -> bytes:
        if self._pos >= len(self._buffer):
            if self._done:
                return b""
            item = self._queue.get()
            if isinstance(item, BaseException) or not item:
                self._done = True
                if isinstance(item, BaseException):
                    raise item
                return b""
            self._buffer, self._pos = item, 0
        if self._pos == 0 and size >= len(self._buffer):
            self._pos = len(self._buffer)
            return self._buffer
        data = self._buffer[self._pos : self._pos + size]
        self._pos += len(data)
        return data

    def close(self) -> None:
        """Stop the thread; the underlying reader is not touched after this returns."""
        self._stop.set()
        self._thread.join()
