"""Text that `sitesrv sql` prints for a result: a plain table, JSON, or a row count.

Pure functions, so the CLI stays thin and the output is stable enough for people's scripts and
our tests. The look follows SQL Server 2000's Query Analyzer, which SMS 2003 administrators ran
these statements in: header, dashes, NULL for SQL NULL; a change prints "(N row(s) affected)".
"""

from __future__ import annotations

import json
from typing import Any

from sitesrv.db.sitedb import ChangeResult, QueryResult


def render_result(result: QueryResult | ChangeResult, *, as_json: bool = False) -> str:
    """The text to print for `result`, ending in a newline; JSON is a list of row objects, or
    {"rows_affected": N} for a change."""
    if isinstance(result, ChangeResult):
        if as_json:
            return json.dumps({"rows_affected": result.rowcount}) + "\n"
        return f"({result.rowcount} row(s) affected)\n"
    if as_json:
        objects = [
            {column: _json_value(value) for column, value in zip(result.columns, row, strict=True)}
            for row in result.rows
        ]
        return json.dumps(objects, indent=2, ensure_ascii=False) + "\n"
    return _table(result)


def _table(result: QueryResult) -> str:
    cells = [[_text(value) for value in row] for row in result.rows]
    widths = [
        max([len(column)] + [len(row[i]) for row in cells])
        for i, column in enumerate(result.columns)
    ]
    lines = [
        _line(result.columns, widths),
        _line(["-" * width for width in widths], widths),
        *(_line(row, widths) for row in cells),
    ]
    return "\n".join(lines) + "\n"


def _line(values: Any, widths: list[int]) -> str:
    return "  ".join(
        value.ljust(width) for value, width in zip(values, widths, strict=True)
    ).rstrip()


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return "0x" + value.hex().upper()
    return str(value)


def _json_value(value: Any) -> Any:
    return "0x" + value.hex().upper() if isinstance(value, bytes) else value
