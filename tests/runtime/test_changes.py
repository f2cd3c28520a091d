"""What changed in a `wakes_on` folder, as the runtime tells the component (`ctx.changes`).

The runtime remembers the names announced in the folder (publish, `ctx.changed`, the live
watcher's hints) until the component asks; a change it cannot name, a rescan or a restart make
the answer None ("anything may have changed: look at everything").
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sitesrv.lab.clock import VirtualClock
from sitesrv.runtime import host as host_module
from sitesrv.runtime.component import Component
from sitesrv.runtime.host import ComponentHost, LabRuntime
from sitesrv.runtime.inbox import InboxSpec
from sitesrv.runtime.registry import Registry
from sitesrv.testing import inbox

BOX = "pkginfo.box"
OWNED = "toy.box\\owned"


class Mirror(Component):
    """Watches `pkginfo.box`; its test reads `ctx.changes` itself."""

    name = "SMS_TOY_MIRROR"
    log_name = "toymirror.log"
    wakes_on = (BOX,)

    def work(self) -> bool:
        return False


class Owner(Component):
    """Owns an inbox, to show that a change below it is not its work."""

    name = "SMS_TOY_OWNER"
    log_name = "toyowner.log"
    inboxes = (InboxSpec(OWNED, ("*",)),)

    def work(self) -> bool:
        return False


@pytest.fixture
def runtime(lab: Path) -> LabRuntime:
    runtime = LabRuntime(lab, clock=VirtualClock(), seed=0,
                         registry=Registry(secondary=(Mirror, Owner)), sites=["SEC"])
    runtime.boot()
    return runtime


def hosts(runtime: LabRuntime) -> tuple[ComponentHost, ComponentHost]:
    by_name = {h.name: h for h in runtime.hosts}
    return by_name[Mirror.name], by_name[Owner.name]


def box(runtime: LabRuntime) -> Path:
    return inbox(runtime.root, "SEC", BOX)


def test_a_start_knows_nothing_then_the_announced_names_come_once(runtime: LabRuntime) -> None:
    mirror, _ = hosts(runtime)
    folder = box(runtime)
    assert mirror.ctx.changes(folder) is None, "a start: anything may have changed"
    assert mirror.ctx.changes(folder) == frozenset()
    mirror.wanted.clear()
    runtime.notify(folder, "A.PKG")  # what publish does
    mirror.ctx.changed(folder, "B.NAL", "C.ICO")  # a deletion, a new folder
    assert mirror.wanted.is_set()
    assert mirror.ctx.changes(folder) == {"A.PKG", "B.NAL", "C.ICO"}
    assert mirror.ctx.changes(folder) == frozenset(), "each name is told once"


def test_a_change_inside_a_sub_folder_is_a_change_of_the_sub_folder(runtime: LabRuntime) -> None:
    mirror, owner = hosts(runtime)
    folder = box(runtime)
    mirror.ctx.changes(folder)
    runtime.notify(folder / "ZZZ00001.ICO", "ICON.ICO")  # a publish into the .ICO
    runtime.hint(str(folder / "ZZZ00002.ICO" / "deeper" / "ICON.ICO"))  # someone else's file
    mirror.ctx.changed(folder / "ZZZ00003.ICO")  # a change there with no name
    assert mirror.ctx.changes(folder) == {"ZZZ00001.ICO", "ZZZ00002.ICO", "ZZZ00003.ICO"}
    owned = inbox(runtime.root, "SEC", OWNED)
    owner.wanted.clear()
    runtime.hint(str(owned / "corrupt" / "X"))
    assert not owner.wanted.is_set(), "below an inbox is not the inbox's work"


def test_the_watchers_hint_names_the_file_and_an_echo_is_told_once(runtime: LabRuntime) -> None:
    mirror, _ = hosts(runtime)
    folder = box(runtime)
    mirror.ctx.changes(folder)
    runtime.echoes = {}  # as the live driver's, with inotify
    runtime.notify(folder, "A.PKG")
    runtime.hint(str(folder / "A.PKG"))  # the echo of that publish
    runtime.hint(str(folder / "PERSON.PKG"))  # a person's file
    assert mirror.ctx.changes(folder) == {"A.PKG", "PERSON.PKG"}
    mirror.ctx.changed(folder, "GONE.NAL")  # a deletion: the watcher sends no echo of it
    runtime.hint(str(folder / "GONE.NAL"))  # so a file of that name arriving is news
    assert mirror.ctx.changes(folder) == {"GONE.NAL"}
    assert str(folder / "GONE.NAL") not in runtime.echoes


@pytest.mark.parametrize("how", ["no name", "rescan", "restart", "too many names"])
def test_what_cannot_be_named_is_everything(runtime: LabRuntime, how: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    mirror, _ = hosts(runtime)
    folder = box(runtime)
    mirror.ctx.changes(folder)
    runtime.notify(folder, "A.PKG")
    if how == "no name":
        mirror.ctx.changed(folder)
    elif how == "rescan":  # live: the periodic rescan, an inotify overflow, a watcher restart
        mirror.wake(rescan=True)
    elif how == "restart":  # a crash's restart: a new instance, which knows nothing yet
        mirror.boot()
    else:
        monkeypatch.setattr(host_module, "MAX_CHANGES", 3)
        for name in ("B", "C", "D"):
            runtime.notify(folder, name)
    assert mirror.ctx.changes(folder) is None
    runtime.notify(folder, "E.PKG")
    assert mirror.ctx.changes(folder) == {"E.PKG"}


def test_only_a_wakes_on_folder_has_changes(runtime: LabRuntime) -> None:
    mirror, _ = hosts(runtime)
    with pytest.raises(KeyError):
        mirror.ctx.changes(Path(os.path.dirname(box(runtime))) / "offerinf.box")
