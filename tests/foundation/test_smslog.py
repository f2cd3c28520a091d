"""The SMS 2003 log line format, byte for byte, and rollover to .lo_."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesrv.db.sitedb import format_time
from sitesrv.files.regular import NotRegularFile
from sitesrv.lab.clock import VirtualClock
from sitesrv.logs.smslog import (
    SmsLog,
    format_line,
    logged_text,
    other_thread_id,
    parse_line,
    read_log,
    read_log_history,
    thread_id_for,
)


def test_golden_line_matches_the_reference_sample() -> None:
    # docs/sources.md#cmwt: local 03:11:46.039 with bias +300 is 08:11:46.039 UTC.
    when = datetime(2016, 12, 6, 8, 11, 46, 39000, tzinfo=UTC).timestamp()
    line = format_line("---->: An event has occurred, the event code is: 0x1",
                       "SMS_SITE_SYSTEM_STATUS_SUMMARIZER", when, 300, 4840)
    assert line == ("---->: An event has occurred, the event code is: 0x1  "
                    "$$<SMS_SITE_SYSTEM_STATUS_SUMMARIZER><12-06-2016 03:11:46.039+300>"
                    "<thread=4840 (0x12E8)>")


@pytest.mark.parametrize(
    ("bias", "local"),
    [(0, "06-04-2007 14:00:00.250+000"), (-60, "06-04-2007 15:00:00.250-60"),
     (300, "06-04-2007 09:00:00.250+300"), (-840, "06-05-2007 04:00:00.250-840"), (-5, "06-04-2007 14:05:00.250-05")],
)
def test_golden_bias_is_plus_three_digits_or_c_03d_when_negative(bias: int, local: str) -> None:
    when = datetime(2007, 6, 4, 14, 0, 0, 250000, tzinfo=UTC).timestamp()
    line = format_line("Sleep 60 seconds...", "SMS_DISTRIBUTION_MANAGER", when, bias, 4840)
    assert line == (f"Sleep 60 seconds...  $$<SMS_DISTRIBUTION_MANAGER><{local}>"
                    "<thread=4840 (0x12E8)>")
    parsed = parse_line(line)
    assert parsed is not None and parsed.bias_minutes == bias


def test_a_bias_without_three_digits_is_not_the_format() -> None:
    assert parse_line("x  $$<SMS_X><06-04-2007 14:00:00.000+0><thread=1 (0x1)>") is None


def test_milliseconds_are_rounded_as_the_database_rounds_them() -> None:
    # 14:00:00.9996 is 14:00:01.000 in the database, so the log must say so too.
    when = datetime(2007, 6, 4, 14, 0, 0, 999600, tzinfo=UTC).timestamp()
    assert format_time(when) == "2007-06-04 14:00:01.000"
    line = format_line("x", "SMS_X", when, 0, 1)
    assert "<06-04-2007 14:00:01.000+000>" in line


@given(st.floats(0, 4102444800, allow_nan=False))
def test_log_and_database_show_one_instant_alike(when: float) -> None:
    parsed = parse_line(format_line("x", "SMS_X", when, 0, 1))
    assert parsed is not None
    date, time = parsed.timestamp.split(" ")
    month, day, year = date.split("-")
    assert f"{year}-{month}-{day} {time}" == format_time(when)


def test_log_file_lines_use_the_lab_clock(tmp_path: Path) -> None:
    clock = VirtualClock(datetime(2007, 6, 4, 14, 0, 0, tzinfo=UTC).timestamp())
    log = SmsLog(tmp_path / "distmgr.log", "SMS_DISTRIBUTION_MANAGER", clock, site="ZZZ",
                 bias_minutes=300)
    log.write("Start adding package ZZZ00001...")
    log.write("The package has 1 file")  # the same instant: the same stamp
    clock.advance(1.5)
    log.write("~Sleep 3600 seconds...")
    thread = thread_id_for("ZZZ", "SMS_DISTRIBUTION_MANAGER")
    assert (tmp_path / "distmgr.log").read_text().splitlines() == [
        f"Start adding package ZZZ00001...  $$<SMS_DISTRIBUTION_MANAGER>"
        f"<06-04-2007 09:00:00.000+300><thread={thread} (0x{thread:X})>",
        f"The package has 1 file  $$<SMS_DISTRIBUTION_MANAGER>"
        f"<06-04-2007 09:00:00.000+300><thread={thread} (0x{thread:X})>",
        f"~Sleep 3600 seconds...  $$<SMS_DISTRIBUTION_MANAGER>"
        f"<06-04-2007 09:00:01.500+300><thread={thread} (0x{thread:X})>",
    ]


def test_a_line_torn_by_a_killed_server_does_not_swallow_the_next_run_s_first(
        tmp_path: Path) -> None:
    path = tmp_path / "distmgr.log"
    first = SmsLog(path, "SMS_DISTRIBUTION_MANAGER", VirtualClock(), site="ZZZ")
    first.write("Start adding package ZZZ00001...")
    torn = format_line("Package ZZZ00001 is new", "SMS_DISTRIBUTION_MANAGER", 0.0, 0, 1)[:25]
    with open(path, "ab") as f:  # the server was killed in the middle of this line
        f.write(torn.encode())
    SmsLog(path, "SMS_DISTRIBUTION_MANAGER", VirtualClock(), site="ZZZ").write("Sleep 30...")
    lines = path.read_text().splitlines()
    assert lines[1] == torn
    assert [parse_line(x).text for x in (lines[0], lines[2])] == [  # type: ignore[union-attr]
        "Start adding package ZZZ00001...", "Sleep 30..."]


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


def test_the_lines_of_a_rolled_over_log_come_first_and_a_planted_lo_is_never_read_through(
        tmp_path: Path) -> None:
    log = SmsLog(tmp_path / "sender.log", "SMS_LAN_SENDER", VirtualClock(), site="P00",
                 max_bytes=400)
    sent = [f"Found send request.  ID: 2_000{i}P00, Dest Site: S01~" for i in range(10)]
    for text in sent:
        log.write(text)
    kept = [line.text for line in read_log_history(tmp_path / "sender.log")]
    assert kept == sent[-len(kept):]  # one .lo_ is kept: the oldest lines are gone
    assert len(kept) > len(read_log(tmp_path / "sender.log"))
    outside = tmp_path / "outside.log"
    outside.write_bytes((tmp_path / "sender.lo_").read_bytes())
    (tmp_path / "sender.lo_").unlink()
    (tmp_path / "sender.lo_").symlink_to(outside)
    with pytest.raises(NotRegularFile, match="symbolic link"):
        read_log_history(tmp_path / "sender.log")
    (tmp_path / "sender.lo_").unlink()
    os.mkfifo(tmp_path / "sender.lo_")  # read, it would never end
    with pytest.raises(NotRegularFile, match="FIFO"):
        read_log(tmp_path / "sender.lo_")


def test_thread_ids_are_stable_and_differ_per_component() -> None:
    a = thread_id_for("P00", "SMS_DESPOOLER")
    assert a == thread_id_for("P00", "SMS_DESPOOLER")
    assert a != thread_id_for("P00", "SMS_LAN_SENDER")


def test_lines_on_another_thread_carry_its_id_for_the_calling_thread_only(
        tmp_path: Path) -> None:
    log = SmsLog(tmp_path / "distmgr.log", "SMS_DISTRIBUTION_MANAGER", VirtualClock(), site="ZZZ")
    own = log.thread
    package = log.thread_for("package ZZZ00001")
    assert package == log.thread_for("package ZZZ00001") != own
    seen = []
    with log.on_thread(package):
        log.write("Start adding package ZZZ00001...")
        worker = threading.Thread(target=lambda: seen.append(log.thread))
        worker.start()
        worker.join()
    log.write("Sleep 3600 seconds...")
    assert seen == [own], "another Python thread writes as the component meanwhile"
    assert [x.thread for x in read_log(tmp_path / "distmgr.log")] == [package, own]


def test_another_thread_never_takes_the_component_s_id() -> None:
    taken = thread_id_for("ZZZ", "SMS_DISTRIBUTION_MANAGER/package ZZZ00001")
    moved = other_thread_id("ZZZ", "SMS_DISTRIBUTION_MANAGER", "package ZZZ00001", {taken})
    assert moved != taken and 0x100 <= moved < 0x1F00
    assert other_thread_id("ZZZ", "SMS_DISTRIBUTION_MANAGER", "package ZZZ00001", ()) == taken


def test_two_packages_whose_ids_would_meet_get_threads_of_their_own(tmp_path: Path) -> None:
    """A bug hunt found ZZZ00041 and ZZZ000AD on one package thread (3863): a reader who
    filters a package's pass by its thread mixed the two."""
    log = SmsLog(tmp_path / "distmgr.log", "SMS_DISTRIBUTION_MANAGER", VirtualClock(), site="ZZZ")
    assert thread_id_for("ZZZ", "SMS_DISTRIBUTION_MANAGER/package ZZZ00041") == \
        thread_id_for("ZZZ", "SMS_DISTRIBUTION_MANAGER/package ZZZ000AD")
    keys = [f"package ZZZ{n:05X}" for n in range(1, 1001)]
    threads = [log.thread_for(key) for key in keys]
    assert len(set(threads)) == len(keys) and log.thread not in threads
    assert [log.thread_for(key) for key in reversed(keys)] == threads[::-1], "stable"


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


# What a message may hold that a reader could take for the end of a line: line breaks, CRs,
# a whole trailer (which only a file name could bring), and any other text.
TRAILER = "  $$<SMS_X><06-04-2007 04:00:00.000+000><thread=1 (0x1)>"
MESSAGES = st.lists(st.sampled_from(["\r", "\n", "\r\n", TRAILER, "  $$<", " "])
                    | st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
                    max_size=12).map("".join)


@given(st.lists(MESSAGES, min_size=1, max_size=4))
def test_every_message_written_reads_back_as_written(messages: list[str]) -> None:
    # A CR of a message is its own, not the line end's (`a\r\nb` read back as `a\nb`).
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "distmgr.log"
        log = SmsLog(path, "SMS_DISTRIBUTION_MANAGER", VirtualClock(), site="ZZZ")
        for message in messages:
            log.write(message)
        log.close()
        assert [line.text for line in read_log(path)] == [logged_text(m) for m in messages]
    for message in messages:  # the message itself, unless a line of it reads as a log line
        lines = message.split("\n")[:-1]
        assert (logged_text(message) == message) == all(parse_line(x) is None for x in lines)


@pytest.mark.parametrize(("message", "logged"), [
    ("a\r\nb", "a\r\nb"), ("a\r\n", "a\r\n"), ("\r\n\r\n", "\r\n\r\n"), ("a\rb\r", "a\rb\r"),
    (f"file{TRAILER}\nX.PKG", f"file{TRAILER} \nX.PKG"),
    (f"file{TRAILER}\r\nX.PKG", f"file{TRAILER}\r \nX.PKG"),
])
def test_a_message_keeps_its_crs_and_never_ends_at_a_trailer_of_its_own(
        tmp_path: Path, message: str, logged: str) -> None:
    path = tmp_path / "distmgr.log"
    log = SmsLog(path, "SMS_DISTRIBUTION_MANAGER", VirtualClock(), site="ZZZ")
    log.write(message)
    log.write("Sleep 30...")
    log.close()
    assert [line.text for line in read_log(path)] == [logged, "Sleep 30..."]
    assert path.read_bytes().startswith(logged.encode() + b"  $$<SMS_DISTRIBUTION_MANAGER><")


def test_a_log_with_crlf_line_ends_is_read_without_them(tmp_path: Path) -> None:
    # A log saved by a Windows tool: the CR of a line end is not text; those inside a message are.
    path = tmp_path / "distmgr.log"
    path.write_bytes(f"first{TRAILER}\r\nsecond, line 1\r\nline 2{TRAILER}\r\n".encode())
    assert [line.text for line in read_log(path)] == ["first", "second, line 1\r\nline 2"]


@given(st.text(max_size=120))
def test_parser_never_crashes_on_junk(line: str) -> None:
    parse_line(line)


def _log(tmp_path: Path, **kw: int) -> SmsLog:
    return SmsLog(tmp_path / "Logs" / "distmgr.log", "SMS_DISTRIBUTION_MANAGER", VirtualClock(),
                  site="P00", **kw)


@pytest.mark.skipif(sys.platform == "win32",
                    reason="Windows refuses to delete or rename a file that is held open")
def test_a_log_deleted_or_moved_away_by_someone_else_starts_again_at_its_path(
        tmp_path: Path) -> None:
    # The log stays open between lines; a log parser's test harness that deletes or archives
    # the log must still find the next lines in <name>.log, not in the file it took away.
    log = _log(tmp_path)
    path = tmp_path / "Logs" / "distmgr.log"
    log.write("first")
    path.unlink()
    log.write("second")
    assert [parse_line(x).text for x in path.read_text().splitlines()] == ["second"]
    path.rename(tmp_path / "archived.log")
    log.write("third")
    assert [parse_line(x).text for x in path.read_text().splitlines()] == ["third"]
    assert [parse_line(x).text
            for x in (tmp_path / "archived.log").read_text().splitlines()] == ["second"]
    log.close()
    log.write("after close")
    assert parse_line(path.read_text().splitlines()[-1]).text == "after close"


def test_lines_from_many_threads_stay_whole(tmp_path: Path) -> None:
    import threading

    log = _log(tmp_path, max_bytes=20_000)
    threads = [threading.Thread(target=lambda n=n: [log.write(f"thread {n} line {i}")
                                                     for i in range(200)])
               for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = [line for p in sorted((tmp_path / "Logs").iterdir())
             for line in p.read_text().splitlines()]
    assert all(parse_line(x) for x in lines)
    assert (tmp_path / "Logs" / "distmgr.log").stat().st_size <= 20_000


def test_a_batch_writes_its_lines_together_when_it_ends_in_order(tmp_path: Path) -> None:
    import threading

    log = _log(tmp_path)
    path = tmp_path / "Logs" / "distmgr.log"
    with log.batch():
        log.write("one")
        with log.batch():  # nested: joins the outer batch
            log.write("two")
        assert not path.exists()
        other = threading.Thread(target=log.write, args=("from another thread",))
        other.start()
        other.join()
        assert [parse_line(x).text for x in path.read_text().splitlines()] == [
            "from another thread"]
        log.write("three")
    assert [parse_line(x).text for x in path.read_text().splitlines()] == [
        "from another thread", "one", "two", "three"]


def test_a_batch_still_rolls_the_log_over_at_its_maximum_size(tmp_path: Path) -> None:
    log = _log(tmp_path, max_bytes=400)
    with log.batch():
        for i in range(10):
            log.write(f"Found send request.  ID: 2_000{i}P00, Dest Site: S01~")
    logs = tmp_path / "Logs"
    assert (logs / "distmgr.log").stat().st_size <= 400
    assert (logs / "distmgr.lo_").stat().st_size <= 400
    current = [parse_line(x).text for x in (logs / "distmgr.log").read_text().splitlines()]
    assert current[-1] == "Found send request.  ID: 2_0009P00, Dest Site: S01~"


@pytest.mark.parametrize("planted", ["a file", "a symbolic link"])
def test_a_logs_folder_replaced_while_the_log_is_closed_is_moved_aside_when_it_opens(
        tmp_path: Path, planted: str) -> None:
    """Once a server runs, its `Logs` may be swapped for a file (the next line was lost with a
    NotADirectoryError) or a link (written through): the log's next open moves it aside."""
    log = _log(tmp_path)
    logs = tmp_path / "Logs"
    log.write("first")
    log.close()
    (logs / "distmgr.log").rename(tmp_path / "kept.log")
    logs.rmdir()
    away = tmp_path / "away"
    away.mkdir()
    if planted == "a file":
        logs.write_bytes(b"not a folder\n")
    else:
        logs.symlink_to(away)

    log.write("second")

    assert logs.is_dir() and not logs.is_symlink()
    assert list(away.iterdir()) == []
    texts = [parse_line(x).text for x in (logs / "distmgr.log").read_text().splitlines()]
    assert texts == [f"Moved Logs aside to .Logs.refused: it was {planted}, not a folder, and "
                     "sitesrv never writes through one", "second"]


def test_a_folder_in_the_way_of_the_rollover_is_moved_aside_and_the_line_written(
        tmp_path: Path) -> None:
    lost: list[tuple[int, OSError]] = []
    log = SmsLog(tmp_path / "distmgr.log", "SMS_DISTRIBUTION_MANAGER", VirtualClock(),
                 site="ZZZ", max_bytes=1024, on_lost=lambda n, e: lost.append((n, e)))
    (tmp_path / "distmgr.lo_").mkdir()
    for n in range(20):
        log.write(f"line {n}")

    assert lost == []
    assert (tmp_path / "distmgr.lo_.refused").is_dir()
    lines = [parse_line(x).text for x in (tmp_path / "distmgr.lo_").read_text().splitlines()]
    lines += [parse_line(x).text for x in (tmp_path / "distmgr.log").read_text().splitlines()]
    assert lines[-1] == "line 19"
    assert ("distmgr.lo_ was a folder, in the way of the rollover: moved it aside to "
            "distmgr.lo_.refused") in lines


@pytest.mark.parametrize("text", ['ISTR0="Office\u2028XP"', "page\x0cbreak", "next\x85line",
                                  "a lone\rreturn"])
def test_read_log_gives_each_message_as_written(tmp_path: Path, text: str) -> None:
    """Bug hunt: `read_log` split messages at U+2028, NEL, form feeds (and, reading text, at a
    lone CR), so a user's log parser was tested against text the log does not hold."""
    path = tmp_path / "distmgr.log"
    log = SmsLog(path, "SMS_DISTRIBUTION_MANAGER", VirtualClock(), site="ZZZ")
    log.write(text)
    log.write("Sleep 30...")
    assert [line.text for line in read_log(path)] == [text, "Sleep 30..."]
