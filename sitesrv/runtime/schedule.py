"""The step driver's schedule file: one JSON line per step, written as it runs, replayable.

A line says which (site, component) ran its next unit at which lab time, and what the unit did:
`progressed`, `deferred` (it only put files back to wait), `nothing`, `failed` (an exception; the
file is retried or quarantined) or `crashed` (an injected crash; `detail` names the fault point
and the file, relative to the lab). `actions` lists the unit's file actions, e.g.
`claimed SEC/SMS/inboxes/despoolr.box/receive/A1.SNI`. Replay follows `site` and `component`,
and re-injects recorded crashes at the recorded point.

The first line is a header, `{"sitesrv_schedule": 1, "seed": 5}`: the seed the run was recorded
with, so a replay draws the same random names (`ctx.ids.random_name`, `ctx.rng`) without being
told the seed again. Files without the header (written before it existed) are still read; their
seed is unknown.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO

import attrs

from sitesrv.errors import UserError

logger = logging.getLogger(__name__)


@attrs.frozen
class StepRecord:
    step: int
    time: str
    site: str
    component: str
    did: str
    detail: str = ""
    actions: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self))

    @classmethod
    def from_json(cls, line: str, where: str) -> StepRecord:
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise TypeError("not a JSON object")
            return cls(**raw)
        except (ValueError, TypeError) as e:
            raise UserError(f"{where}: not a schedule line ({e}). A schedule file is what "
                            "'sitesrv run --step --record FILE' wrote.") from None


FORMAT_KEY = "sitesrv_schedule"
FORMAT_VERSION = 1


@attrs.frozen
class Schedule:
    """A schedule file: the seed it was recorded with (None in a file without a header) and
    its steps."""

    seed: int | None
    steps: list[StepRecord]


def header_line(seed: int) -> str:
    return json.dumps({FORMAT_KEY: FORMAT_VERSION, "seed": seed})


def _header(line: str, where: str) -> int | None:
    """The seed of a header line; None if the line is not a header (an old file's first step)."""
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict) or FORMAT_KEY not in raw:
        return None
    if raw[FORMAT_KEY] != FORMAT_VERSION:
        raise UserError(f"{where}: schedule format {raw[FORMAT_KEY]!r}; this sitesrv reads "
                        f"format {FORMAT_VERSION}. Replay it with the sitesrv that recorded it, "
                        "or record the run again with this one.")
    seed = raw.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UserError(f"{where}: the schedule header has no integer seed.")
    return seed


def read_schedule(path: Path) -> Schedule:
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as e:
        raise UserError(f"{path}: cannot read the schedule to replay ({e.strerror}).") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not a schedule: byte {e.object[e.start]:#04x} at offset "
                        f"{e.start} is not UTF-8 text. A schedule file is what 'sitesrv run "
                        "--step --record FILE' wrote.") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    seed = _header(lines[0][1], f"{path}, line {lines[0][0]}") if lines else None
    if seed is not None:
        lines = lines[1:]
    steps = []
    for i, (n, line) in enumerate(lines):
        try:
            steps.append(StepRecord.from_json(line, f"{path}, line {n}"))
        except UserError:
            if i < len(lines) - 1 or text.endswith("\n"):
                raise
            # The recording run was killed while writing its last line: replay what it ran.
            logger.warning("%s, line %d: skipped a torn last step (the recording run was "
                           "killed while writing it)", path, n)
    return Schedule(seed, steps)


class ScheduleWriter:
    """Writes the header, then step lines, flushing each, so a run that dies still leaves its
    schedule."""

    def __init__(self, path: Path, seed: int) -> None:
        self.path = path
        self.seed = seed

    def __enter__(self) -> ScheduleWriter:
        try:
            self._file: IO[str] = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as e:
            raise UserError(f"Cannot write the schedule to {self.path}: {e.strerror or e}. "
                            "Pass --record with a file in a folder that exists and that you "
                            "can write to.") from None
        self._file.write(header_line(self.seed) + "\n")
        self._file.flush()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()

    def write(self, record: StepRecord) -> None:
        self._file.write(record.to_json() + "\n")
        self._file.flush()
