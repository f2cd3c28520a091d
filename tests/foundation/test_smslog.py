"""The SMS 2003 log line format, byte for byte, and rollover to .lo_."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sitesrv.clock import VirtualClock
from sitesrv.smslog import SmsLog, format_line, parse_line, thread_id_for


def test_golden_line_matches_the_reference_sample() -> None:
    # Reference §7.1: local 03:11:46.039 with bias +300 is 08:11:46.039 UTC.
    when = datetime(2016, 12, 6, 8, 11, 46, 39000, tzinfo=UTC).timestamp()
    line = format_line("---->: An event has occurred, the event code is: 0x1",
                       "SMS_SITE_SYSTEM_STATUS_SUMMARIZER", when, 300, 4840)
    assert line == ("---->: An event has occurred, the event code is: 0x1  "
                    "$$<SMS_SITE_SYSTEM_STATUS_SUMMARIZER><12-06-2016 03:11:46.039+300>"
                    "<thread=4840 (0x12E8)>")


def test_log_file_lines_use_the_lab_clock(tmp_path: Path) -> None:
    clock = VirtualClock(datetime(2007, 6, 4, 14, 0, 0, tzinfo=UTC).timestamp())
    log = SmsLog(tmp_path / "distmgr.log", "SMS_DISTRIBUTION_MANAGER", clock, site="ZZZ",
                 bias_minutes=300)
    log.write("Start adding package ZZZ00001...")
    clock.advance(1.5)
    log.write("~Sleep 3600 seconds...")
    thread = thread_id_for("ZZZ", "SMS_DISTRIBUTION_MANAGER")
    assert (tmp_path / "distmgr.log").read_text().splitlines() == [
        f"Start adding package ZZZ00001...  $$<SMS_DISTRIBUTION_MANAGER>"
        f"<06-04-2007 09:00:00.000+300><thread={thread} (0x{thread:X})>",
        f"~Sleep 3600 seconds...  $$<SMS_DISTRIBUTION_MANAGER>"
        f"<06-04-2007 09:00:01.500+300><thread={thread} (0x{thread:X})>",
    ]


def test_rollover_renames_to_lo_underscore(tmp_path: Path) -> None:
    log = SmsLog(tmp_path / "sender.log", "SMS_LAN_SENDER", VirtualClock(), site="P00",
                 max_bytes=400)
    for i in range(10):
        log.write(f"Found send request.  ID: 2_000{i}P00, Dest Site: S01~")
    current = (tmp_path / "sender.log").read_text().splitlines()
    old = (tmp_path / "sender.lo_").read_text().splitlines()
    assert (tmp_path / "sender.log").stat().st_size <= 400
    assert current[-1].startswith("Found send request.  ID: 2_0009P00")
    assert len(old) >= 1 and all(parse_line(x) for x in old + current)
    # Nothing older than the .lo_ is kept, as SMS keeps one old log.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sender.lo_", "sender.log"]


def test_thread_ids_are_stable_and_differ_per_component() -> None:
    a = thread_id_for("P00", "SMS_DESPOOLER")
    assert a == thread_id_for("P00", "SMS_DESPOOLER")
    assert a != thread_id_for("P00", "SMS_LAN_SENDER")


@given(
    text=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=80),
    component=st.from_regex(r"SMS_[A-Z_]{3,30}", fullmatch=True),
    when=st.floats(0, 4102444800, allow_nan=False),
    bias=st.integers(-840, 840),
    thread=st.integers(1, 0xFFFF),
)
def test_format_then_parse_round_trips(text: str, component: str, when: float, bias: int,
                                       thread: int) -> None:
    parsed = parse_line(format_line(text, component, when, bias, thread))
    assert parsed is not None
    assert (parsed.text, parsed.component, parsed.bias_minutes, parsed.thread) == (
        text, component, bias, thread)


@given(st.text(max_size=120))
def test_parser_never_crashes_on_junk(line: str) -> None:
    parse_line(line)
