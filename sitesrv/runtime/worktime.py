"""What a unit's work costs in lab time: a file noticed, bytes compressed, expanded or copied.

In step mode lab time is virtual, so without costs a whole lab's work happens in one instant.
Each cost is the timing profile's figure (lab/timing.py), varied by up to `work_jitter` with a
draw from the component's seeded rng, so the same seed on the same lab gives the same stamps.
The driver's clock spends it: the step driver's virtual clock moves on by it, so the lines the
unit writes next carry the later time; a live clock does nothing, as the work itself took real
time. Components never learn which it is.
"""

from __future__ import annotations

import random

from sitesrv.lab.clock import Clock
from sitesrv.lab.timing import TimingProfile


class WorkTime:
    """One component's costs, on its driver's clock and its own rng."""

    def __init__(self, clock: Clock, rng: random.Random, timing: TimingProfile) -> None:
        self._clock = clock
        self._rng = rng
        self._timing = timing
        # Spent for every file taken (the profile is frozen): looked up once, not per file.
        self._jitter = timing.work_jitter
        self._file_taken = timing.file_notice + timing.instruction_cost

    def spend(self, seconds: float) -> None:
        """Work that took `seconds` of lab time (before jitter) was done."""
        if seconds <= 0:
            return
        jitter = self._jitter
        if jitter:
            seconds *= 1 + self._rng.uniform(-jitter, jitter)
        self._clock.spend(seconds)

    def file_taken(self) -> None:
        """A component noticed a file in its inbox, took it and read the instruction in it."""
        self.spend(self._file_taken)

    def compressed(self, source_bytes: int) -> None:
        self.spend(source_bytes / self._timing.compress_rate)

    def expanded(self, compressed_bytes: int) -> None:
        self.spend(compressed_bytes / self._timing.decompress_rate)

    def copied_to_dp(self, file_bytes: int) -> None:
        self.spend(file_bytes / self._timing.dp_copy_rate)

    def sent(self, nbytes: int) -> None:
        """Bytes written over an address without a rate limit, at the LAN's rate."""
        self.spend(nbytes / self._timing.network_rate)
