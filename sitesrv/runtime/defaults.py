"""What a run of the site servers uses when its caller does not say, in a module that imports
nothing: `sitesrv run --help` shows these without importing the drivers (docs/performance.md)."""

from __future__ import annotations

INOTIFY = "inotify"  # what --watcher asks for by default: the platform's notifications
POLLING = "polling"
WATCHERS = (INOTIFY, POLLING)
DEFAULT_WORKERS = 2  # live mode's worker threads
DEFAULT_MAX_STEPS = 100_000  # step mode's budget of counted steps
