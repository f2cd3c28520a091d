"""Which components run at primary and at secondary sites: a registry the drivers are given.

`sitesrv.components.registry.SMS_COMPONENTS` is SMS's, which `sitesrv run` and `Lab` run.
Tests and extensions pass their own (`sitesrv run --components module:NAME`).
"""

from __future__ import annotations

import importlib

import attrs

from sitesrv.errors import UserError
from sitesrv.lab.hierarchy import Site
from sitesrv.runtime.component import Component


@attrs.frozen
class Registry:
    """The component classes a primary site runs, and those a secondary site runs."""

    primary: tuple[type[Component], ...] = ()
    secondary: tuple[type[Component], ...] = ()

    def for_site(self, site: Site) -> tuple[type[Component], ...]:
        return self.primary if site.is_primary else self.secondary


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
