"""sitesrv: an emulator of Microsoft SMS 2003 site servers, a whole hierarchy on one machine."""

__version__ = "0.1.0"
