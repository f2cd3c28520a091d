"""Which components run at primary and at secondary sites.

`SMS_COMPONENTS` is what `sitesrv run` runs: the software-distribution components of
sitesrv.components. Secondary sites have no database, so no SQL Monitor. Tests and extensions
pass their own registry (`--components module:NAME`).
"""

from __future__ import annotations

import importlib

import attrs

from sitesrv.errors import UserError
from sitesrv.hierarchy import Site
from sitesrv.runtime.component import Component


@attrs.frozen
class Registry:
    primary: tuple[type[Component], ...] = ()
    secondary: tuple[type[Component], ...] = ()

    def for_site(self, site: Site) -> tuple[type[Component], ...]:
        return self.primary if site.is_primary else self.secondary


def _sms_components() -> Registry:
    from sitesrv.components.despooler import Despooler
    from sitesrv.components.distmgr import DistributionManager
    from sitesrv.components.replmgr import ReplicationManager
    from sitesrv.components.scheduler import Scheduler
    from sitesrv.components.sender import Sender
    from sitesrv.components.sqlmon import SqlMonitor

    shared = (DistributionManager, ReplicationManager, Scheduler, Sender, Despooler)
    return Registry(primary=(SqlMonitor, *shared), secondary=shared)


SMS_COMPONENTS = _sms_components()


def load_registry(spec: str) -> Registry:
    """The registry named `package.module:NAME`."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UserError(f"{spec!r} does not name a component registry; write module:NAME, "
                        "e.g. mypackage.components:REGISTRY")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UserError(f"Cannot import {module_name!r} for the component registry: {e}") from None
    found = getattr(module, attribute, None)
    if not isinstance(found, Registry):
        raise UserError(f"{spec} is not a sitesrv.runtime.registry.Registry")
    return found
