"""sitesrv: an emulator of Microsoft SMS 2003 site servers, a whole hierarchy on one machine."""

from sitesrv.admin.lab import Lab

__version__ = "0.1.0"
__all__ = ["Lab", "__version__"]
