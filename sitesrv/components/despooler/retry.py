"""The Despooler's retry: the error code, "won't be processed till ...", and the deferral.

An instruction that cannot run yet (error 12: the package information for its version has not
arrived; error 8: a delta's previous version is missing) goes back into receive and is tried again
after `timing.despooler_retry_delay` (docs/sources.md#package-actions, Q172899), or, for error 12,
as soon as Distribution Manager records the package's information (a deliberate difference:
docs/differences.md). The deferral is the runtime's: it lives in memory, so after a restart the
instruction is simply tried at once, as SMS re-examines its inboxes at start-up. No `PKGxxxxx.TRY`
copy is made (docs/despooler.md).
"""

from __future__ import annotations

from sitesrv.components.despooler.receive import Received
from sitesrv.lab.sitetime import windows_time_text
from sitesrv.runtime.backoff import backoff


def retry_later(received: Received, error_code: int, reason: str, *,
                signal: str | None = None) -> None:
    """Log the failed attempt and defer the instruction by the despooler retry delay, doubled
    with each earlier retry of it (runtime.backoff: an instruction that waits for ever keeps a
    lab busy at a bounded, falling rate), or until another component of the site sends
    `signal`.

    The first two lines are as the 2003-era report quotes them (docs/sources.md#secondary-stuck),
    without the leading `~` of their ConfigMgr spelling, whatever the error code.
    """
    ctx = received.ctx
    ctx.log.write(f"Created retry instruction for job {received.ins.job_id}")
    ctx.log.write(f"Despooler failed to execute the instruction, error code = {error_code}")
    earlier = received.retries.get(received.item.name, 0)
    received.retries[received.item.name] = earlier + 1
    delay = backoff(ctx.timing.despooler_retry_delay, earlier)
    not_before = ctx.clock.now() + delay
    shown = ctx.windows(received.item.original)
    ctx.log.write(f"~Instruction {shown} won't be processed till "
                  f"{windows_time_text(not_before, ctx.site.time_zone_bias)}")
    ctx.emit("instruction_retry", file=shown, error_code=error_code,
             package=received.ins.package_id, version=received.ins.package_version, reason=reason)
    received.retry(not_before, reason, signal)
