"""Distribution Manager (SMS_DISTRIBUTION_MANAGER, distmgr.log).

`component.py` is the component; `pkgsend.py` what it sends to other sites; `dpinstall.py`
how it puts a package on a distribution point and takes it off.
"""

from sitesrv.components.distmgr.component import DistributionManager

__all__ = ["DistributionManager"]
