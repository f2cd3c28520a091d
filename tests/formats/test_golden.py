"""The exact bytes we write: a change to an on-disk format must show up as a diff here."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.formats import srq
from tests.formats.examples import EXAMPLES, SEND_REQUEST


@pytest.mark.parametrize("kind", EXAMPLES)
def test_the_writer_produces_the_golden_bytes(kind: str) -> None:
    module, record, text = EXAMPLES[kind]
    assert module.encode(record) == text.encode("utf-8")
    assert module.parse(text, f"golden.{kind}") == record


@pytest.mark.parametrize("kind", EXAMPLES)
def test_a_written_file_reads_back(kind: str, tmp_path: Path) -> None:
    module, record, _ = EXAMPLES[kind]
    path = tmp_path / f"example.{kind}"
    path.write_bytes(module.encode(record))
    assert module.read(path) == record


def test_dumpsend_prints_every_record_readably() -> None:
    assert srq.dumpsend(SEND_REQUEST) == r"""Send Request Data:
  Priority:                   2 (medium)
  Dest Site:                  P00
  Job:                        00000029
  Job Request:                2_001ZZZ
  Outbox:                     \\MGMT01\SMS_ZZZ\inboxes\schedule.box\outboxes\LAN
  Preferred Address:          *
  Ignore Schedule:            0
Sender/Scheduler Status:
  Sender Status:              SREQ_STATUS_SENDING
  First Sender Started At:    2007-06-04 09:00:03.000 UTC
  Sender Started At:          2007-06-04 09:00:03.000 UTC
  Sender Ended At:            never
  Sender Gate Heartbeat At:   2007-06-04 09:00:04.500 UTC
  Scheduler To Restart At:    never
  Total Bytes To Send:        1048576
  Bytes Left To Send:         524288 (50% sent)
  Sync Point:                 524288
  File Type:                  2 (*.PKG)
  Number Of Connects:         1
  Sender ID:                  SMS_LAN_SENDER
Cancel:
  Mode:                       Not cancelled
Action Code:
  Action Code:                0 (do nothing)
Address 1 of 1:
  Address:                    \\MGMT03\SMS_SITE
  Address Type:               LAN
Package File:
  Path:                       F:\SMSPKG\ZZZ00001.PCK
Instruction File:
  Path:                       \\MGMT01\SMS_ZZZ\inboxes\schedule.box\tosend\00000029.IPT
Routing:
  Routing Master Request ID:  2_001ZZZ
  Job Originating Site:       ZZZ
  Job Final Destination Site: P00
Confirmation:
  Confirmation Needed:        1
"""


@pytest.mark.parametrize("kind", EXAMPLES)
def test_the_documented_example_is_the_golden_file(kind: str) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "formats.md").read_text(encoding="utf-8")
    assert f"```\n{EXAMPLES[kind][2]}```" in docs


def test_the_documented_dumpsend_view_is_the_real_one() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "formats.md").read_text(encoding="utf-8")
    assert f"```\n{srq.dumpsend(SEND_REQUEST)}```" in docs
