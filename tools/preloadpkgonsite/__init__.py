"""PreloadPkgOnSite for a sitesrv lab: register a compressed package copied to a site by hand.

The SMS 2003 Toolkit's PreloadPkgOnSite.exe, run against one site of a lab as the real one runs
on one site server (docs/tools.md). It changes the site through the lab's public interface
only: the site database's tables, the inbox files and the documented state files.
"""
