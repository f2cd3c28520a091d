"""sitesrv: an emulator of Microsoft SMS 2003 site servers, a whole hierarchy on one machine.

The public surface for tools (docs/architecture.md): `Lab`, and the two views of a site it
gives, `Site` (`lab.hierarchy.site(code)`: its server, parent, type and DPs) and `SiteLayout`
(`lab.site(code)`: its folders, and its paths as Windows spells them).

They are imported on first use (PEP 562), so that `import sitesrv.<module>` does not pay for
the lab's modules: the command line starts faster (docs/performance.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sitesrv.admin.lab import Lab
    from sitesrv.lab.hierarchy import Site
    from sitesrv.lab.layout import SiteLayout

__version__ = "0.1.0"
__all__ = ["Lab", "Site", "SiteLayout", "__version__"]

_PUBLIC = {"Lab": "sitesrv.admin.lab", "Site": "sitesrv.lab.hierarchy",
           "SiteLayout": "sitesrv.lab.layout"}


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'sitesrv' has no attribute {name!r}")
