"""The live idle rule, as one process and a per-site supervisor both apply it."""

from __future__ import annotations

from sitesrv.runtime.idle import IDLE, RESCAN, WAITING, LiveIdleRule, LiveSnapshot, WaitLine

WAIT = WaitLine("P00", "SMS_DESPOOLER", "receive\\X.SNI", "waits for package information")


def snap(quiet: bool = True, progress: int = 5, last: float = 100.0, now: float = 110.0,
         waits: tuple[WaitLine, ...] = (), due: tuple[float, ...] = ()) -> LiveSnapshot:
    return LiveSnapshot(quiet, progress, last, now, waits, due)


def test_idle_needs_every_process_quiet_then_a_rescan_without_progress() -> None:
    rule = LiveIdleRule(horizon=60)
    assert rule.verdict([snap(), snap(quiet=False)]) is None
    assert rule.verdict([snap(), snap()]) == RESCAN
    assert rule.verdict([snap(), snap()]) == IDLE


def test_progress_in_any_process_during_the_rescan_asks_for_another() -> None:
    rule = LiveIdleRule(horizon=60)
    assert rule.verdict([snap(progress=5), snap(progress=1)]) == RESCAN
    assert rule.verdict([snap(progress=5), snap(progress=2)]) == RESCAN  # a hand-off crossed
    assert rule.verdict([snap(progress=5), snap(progress=2)]) == IDLE


def test_a_wait_no_timer_can_end_is_reported_after_the_confirming_rescan() -> None:
    rule = LiveIdleRule(horizon=60)
    assert rule.verdict([snap(waits=(WAIT,)), snap()]) == RESCAN
    assert rule.verdict([snap(waits=(WAIT,)), snap()]) == WAITING


def test_a_timer_due_within_the_horizon_of_the_last_progress_anywhere_keeps_it_busy() -> None:
    rule = LiveIdleRule(horizon=60)
    # The second process progressed last, at 150: a timer at 200 may still change something.
    lab = [snap(waits=(WAIT,), last=100.0, now=155.0), snap(last=150.0, now=155.0, due=(200.0,))]
    assert rule.verdict(lab) is None
    assert rule.verdict(lab) is None


def test_nothing_progressed_for_the_horizon_anywhere_is_waiting_at_once() -> None:
    rule = LiveIdleRule(horizon=60)
    assert rule.verdict([snap(waits=(WAIT,), last=100.0, now=161.0, due=(170.0,)),
                         snap(last=90.0, now=161.0)]) == WAITING
