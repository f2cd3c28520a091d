"""One send in progress: what it reads, where it writes, how far it is, when it may go on.

A transfer spans lab time. It connects (the address's latency), then writes the package file in
chunks, each no earlier than `start + latency + bytes_so_far / rate_limit`, then the
instruction. The Sender keeps its transfers in memory and the claimed `.srq` in the outbox's
work folder; after a crash start-up recovery returns the `.srq` and the send starts again from
byte 0 (SMS resumes at the sync point).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs

from sitesrv.compression.known import Identity
from sitesrv.formats import sni
from sitesrv.formats.srq import SendRequest
from sitesrv.lab.hierarchy import Address
from sitesrv.runtime.inbox import WorkItem

CONNECT, PACKAGE, FINISH = "connect", "package", "finish"
UNLIMITED_CHUNK = 64 * 1024 * 1024  # one unit of work copies this much without a rate limit
SMALLEST_CHUNK = 1024  # SMS's own write size in sender.log (docs/sources.md#package-actions)
LARGEST_CHUNK = 1024 * 1024
CHUNKS_PER_SECOND = 4  # a rate-limited send writes about this often



def chunk_size(rate_limit: int | None) -> int:
    if rate_limit is None:
        return UNLIMITED_CHUNK
    return max(SMALLEST_CHUNK, min(LARGEST_CHUNK, rate_limit // CHUNKS_PER_SECOND))


def payload_temp_name(request_id: str) -> str:
    """The package file while it is written: `<id>.PCK.TMP`, renamed to `<id>.PCK` when complete.

    The name is the same on every attempt, so a restarted send overwrites what an earlier one
    left, and, as a `.TMP`, no scanner takes it for work.
    """
    return sni.payload_file_name(request_id) + ".TMP"


class RemoteError(Exception):
    """An I/O error at the destination: retryable, and logged as SMS logs it."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines[0])
        self.lines = lines


@attrs.define
class Transfer:
    """The state of one send request the Sender is working on."""

    item: WorkItem
    request: SendRequest
    address_no: int  # index into the request's ADDRESS records and the site's addresses
    address: Address
    receive: Path | None  # the destination's despoolr.box\receive; None if the share is unknown
    share: str  # \\<server>\SMS_SITE
    package: Path | None
    package_identity: tuple[int, int, int] | None  # (device, inode, size) when the send began
    package_size: int
    instruction: Path
    first_started: float
    started: float
    due: float
    connects: int = 1
    retries: int = 0
    phase: str = CONNECT
    offset: int = 0
    heartbeat: float | None = None
    instruction_bytes: bytes = b""  # the instruction as it goes, request ID and sender filled in
    package_id: str = ""  # for the event stream, so `sitesrv trace` shows the send
    latency: float = 0.0  # this connection's: the address's, varied by its jitter
    rate: int | None = None  # bytes per second, likewise; None is unlimited
    # Whether the copy at the destination holds the package file's bytes and nothing else
    # wrote to either since this attempt's first range (compression.known): the package
    # file's identity then, and the copy's after the last range.
    source_identity: Identity | None = None
    copy_identity: Identity | None = None
    vouching: bool = True

    @property
    def request_id(self) -> str:
        return self.request.request_id

    @property
    def destination(self) -> str:
        return self.request.dest_site

    @property
    def chunk(self) -> int:
        return chunk_size(self.rate)

    def remote(self, name: str) -> str:
        return f"{self.share}\\{name}"

    def data_due(self, sent: int) -> float:
        """When the byte after `sent` bytes may go: after the latency, at the rate limit."""
        start = self.started + self.latency
        return start if self.rate is None else start + sent / self.rate

    def connect(self, address: Address, uniform: Callable[[float, float], float]) -> None:
        """Take `address` for this connection, with its latency and rate each varied by up to
        the address's jitter (`uniform`: the component's seeded `ctx.rng.uniform`, so the same
        seed gives the same timings; components never import `random`). An address without
        jitter draws nothing, so adding one to a lab changes no other draw."""
        self.address, self.latency, self.rate = address, address.latency, address.rate_limit
        if address.jitter:
            self.latency *= 1 + uniform(-address.jitter, address.jitter)
            if self.rate is not None:
                self.rate = max(1, round(self.rate * (1 + uniform(-address.jitter,
                                                                   address.jitter))))

    @property
    def temp_path(self) -> Path:
        assert self.receive is not None
        return self.receive / payload_temp_name(self.request_id)

    @property
    def payload_path(self) -> Path:
        assert self.receive is not None
        return self.receive / sni.payload_file_name(self.request_id)
