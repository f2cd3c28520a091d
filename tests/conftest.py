"""Shared fixtures: the default hierarchy text and a built lab; the hypothesis profiles.

Labs come from the pytest plugin's fixtures (sitesrv/pytest_plugin.py), as users' tests get
them; the helpers that read and feed them are in `sitesrv.testing`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from sitesrv.admin.lab import Lab
from sitesrv.db import sitedb
from sitesrv.db.sitedb import SiteDatabase
from sitesrv.lab.clock import VirtualClock
from sitesrv.runtime.component import Component
from sitesrv.runtime.context import ComponentContext
from sitesrv.runtime.host import LabRuntime
from sitesrv.runtime.registry import Registry

pytest_plugins = ["pytester"]  # tests/test_testing.py runs a user's test file with the plugin

REPO = Path(__file__).resolve().parent.parent
DEFAULT_HIERARCHY = REPO / "hierarchy.yaml"
SHORT_BUSY_TIMEOUT = 0.01  # seconds; the default of 10 s would make each attempt slow

# "ci" (the default): the same examples on every run (derandomized, no example database) and
# no timing checks, so a busy machine cannot fail a test. "explore" (HYPOTHESIS_PROFILE=explore):
# fresh random examples, more of them. A test's own @settings still override either profile.
settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def at_once(target: Callable[..., object], args_each: Iterable[tuple[object, ...]]) -> None:
    """Call `target` with each argument tuple, each in a thread of its own, all at once (races);
    the first failure is raised here, in the test's thread."""
    failures: list[BaseException] = []

    def call(args: tuple[object, ...]) -> None:
        try:
            target(*args)
        except BaseException as e:  # raised below
            failures.append(e)

    threads = [threading.Thread(target=call, args=(args,)) for args in args_each]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]



class Idle(Component):
    """A component that does nothing: its context is what a test needs (IDs, names, publish)."""

    name = "SMS_TEST_IDLE"
    log_name = "testidle.log"

    def work(self) -> bool:
        return False


def site_contexts(root: Path, site: str, count: int = 1) -> tuple[LabRuntime,
                                                                  list[ComponentContext]]:
    """`count` idle components of `site`, booted in step mode, each with its own context; the
    caller unlocks the runtime."""
    idle = tuple(type(f"Idle{i}", (Idle,), {"name": f"SMS_TEST_IDLE_{i}"}) for i in range(count))
    runtime = LabRuntime(root, clock=VirtualClock(), seed=0, registry=Registry(primary=idle),
                         sites=[site])
    runtime.boot()
    return runtime, [host.ctx for host in runtime.hosts]

@pytest.fixture
def default_hierarchy_text() -> str:
    return DEFAULT_HIERARCHY.read_text(encoding="utf-8")


@pytest.fixture
def lab(sitesrv_lab: Lab) -> Lab:
    """The plugin's lab, built from the default hierarchy. The runtime, transport and despooler
    conftests override it with the lab's folder, which the drivers they call take."""
    return sitesrv_lab


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Components and commands give up on a locked database after a fraction of a second."""
    monkeypatch.setattr(sitedb, "DEFAULT_BUSY_TIMEOUT", SHORT_BUSY_TIMEOUT)
    # The constant is also the default argument of these, bound when they were defined.
    for method in (SiteDatabase.open, SiteDatabase.create):
        monkeypatch.setitem(method.__func__.__kwdefaults__, "busy_timeout", SHORT_BUSY_TIMEOUT)
