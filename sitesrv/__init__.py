"""sitesrv: an emulator of Microsoft SMS 2003 site servers, a whole hierarchy on one machine.

The public surface for tools (docs/architecture.md): `Lab`, and the two views of a site it
gives, `Site` (`lab.hierarchy.site(code)`: its server, parent, type and DPs) and `SiteLayout`
(`lab.site(code)`: its folders, and its paths as Windows spells them).
"""

from sitesrv.admin.lab import Lab
from sitesrv.lab.hierarchy import Site
from sitesrv.lab.layout import SiteLayout

__version__ = "0.1.0"
__all__ = ["Lab", "Site", "SiteLayout", "__version__"]
