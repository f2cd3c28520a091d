"""The Despooler's retry: the error code, "won't be processed till ...", and the deferral.

An instruction that cannot run yet (error 12: the package information for its version has not
arrived; error 8: a delta's previous version is missing) goes back into receive and is tried
again after `timing.despooler_retry_delay` (reference §4.7, §11.8), or, for error 12, as soon as
Distribution Manager records the package's information (a deliberate difference:
docs/differences.md). The deferral is the
runtime's: it lives in memory, so after a restart the instruction is simply tried at once, as
SMS re-examines its inboxes at start-up. No `PKGxxxxx.TRY` copy is made (docs/despooler.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sitesrv.components.despooler.receive import Received

# Windows' standard-time names for the biases a lab is likely to use. A site has one fixed
# bias (hierarchy.yaml time_zone_bias, no daylight saving), so the name is its standard time.
ZONE_NAMES = {
    600: "Hawaiian Standard Time",
    540: "Alaskan Standard Time",
    480: "Pacific Standard Time",
    420: "Mountain Standard Time",
    360: "Central Standard Time",
    300: "Eastern Standard Time",
    240: "Atlantic Standard Time",
    0: "GMT Standard Time",
    -60: "W. Europe Standard Time",
    -120: "E. Europe Standard Time",
    -180: "Russian Standard Time",
    -330: "India Standard Time",
    -480: "China Standard Time",
    -540: "Tokyo Standard Time",
    -600: "AUS Eastern Standard Time",
}


def zone_name(bias_minutes: int) -> str:
    """The zone text for a bias (local + bias = UTC); `UTC+05:45` style for the rest."""
    if bias_minutes in ZONE_NAMES:
        return ZONE_NAMES[bias_minutes]
    offset = -bias_minutes
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def local_time_text(when: float, bias_minutes: int) -> str:
    """`6/4/2007 4:00:05 AM Eastern Standard Time`, as the CM12 despool.log writes times."""
    local = datetime.fromtimestamp(when, UTC) - timedelta(minutes=bias_minutes)
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    return (f"{local.month}/{local.day}/{local.year} {hour}:{local.minute:02d}:"
            f"{local.second:02d} {half} {zone_name(bias_minutes)}")


def retry_later(r: Received, error_code: int, reason: str, *, tilde: bool,
                signal: str | None = None) -> None:
    """Log the failed attempt and defer the instruction by the despooler retry delay, or until
    another component of the site sends `signal`.

    `tilde` picks the CM12 spelling (`~Created retry instruction ...`); without it the lines are
    the 2003-era ones, which the field reports quote without the leading `~`.
    """
    ctx = r.ctx
    mark = "~" if tilde else ""
    ctx.log.write(f"{mark}Created retry instruction for job {r.ins.job_id}")
    ctx.log.write(f"{mark}Despooler failed to execute the instruction, error code = {error_code}")
    not_before = ctx.clock.now() + ctx.timing.despooler_retry_delay
    ctx.log.write(f"~Instruction {ctx.windows(r.item.original)} won't be processed till "
                  f"{local_time_text(not_before, ctx.site.time_zone_bias)}")
    ctx.emit("instruction_retry", file=ctx.windows(r.item.original), error_code=error_code,
             package=r.ins.package_id, version=r.ins.package_version, reason=reason)
    r.retry(not_before, reason, signal)
