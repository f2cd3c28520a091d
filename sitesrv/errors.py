"""The error kinds sitesrv distinguishes, so each front door can treat them right.

A `UserError` is something the person at the keyboard can fix (a bad hierarchy.yaml, an unknown
package ID, a missing lab). The CLI prints its message as one paragraph and exits with status 2,
with no traceback. A `FormatError` is a file on disk that cannot be parsed; components move such
files to `corrupt/` and log the file and the reason.
"""

from __future__ import annotations


class SitesrvError(Exception):
    """Base class of every error sitesrv raises on purpose."""


class UserError(SitesrvError):
    """A mistake the user can correct; the CLI exits with status 2 and prints only the message."""

    exit_code = 2


class FormatError(SitesrvError):
    """A file whose content cannot be parsed; names the file and the problem."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
