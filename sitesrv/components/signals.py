"""Signals one component of a site sends the others (`ctx.signal`): what happened, by name.

A file deferred until a signal (`WorkItem.defer(..., signal=...)`) is eligible as soon as
another component of the site sends it, instead of waiting out its retry delay.
"""

from __future__ import annotations


def package_information_signal(pkg_id: str) -> str:
    """What Distribution Manager signals when it records a package's replicated definition,
    so an instruction the Despooler deferred for it (error 12) is tried again at once."""
    return f"package-information {pkg_id}"
