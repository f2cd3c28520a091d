"""The step driver's schedule file: one JSON line per step, written as it runs, replayable.

A line says which (site, component) ran its next unit at which lab time, and what the unit did:
`progressed`, `deferred` (it only put files back to wait), `nothing`, `failed` (an exception; the
file is retried or quarantined) or `crashed` (an injected crash; `detail` names the fault point
and the file, relative to the lab). `actions` lists the unit's file actions, e.g.
`claimed SEC/SMS/inboxes/despoolr.box/receive/A1.SNI`. Replay follows `site` and `component`,
and re-injects recorded crashes at the recorded point.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import attrs

from sitesrv.errors import UserError


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


def read_schedule(path: Path) -> list[StepRecord]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"{path}: cannot read the schedule to replay ({e.strerror}).") from None
    return [StepRecord.from_json(line, f"{path}, line {n}")
            for n, line in enumerate(text.splitlines(), 1) if line.strip()]


class ScheduleWriter:
    """Writes step lines and flushes each, so a run that dies still leaves its schedule."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> ScheduleWriter:
        self._file: IO[str] = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()

    def write(self, record: StepRecord) -> None:
        self._file.write(record.to_json() + "\n")
        self._file.flush()
