"""The SMS 2003 components every site runs, as `sitesrv run` and `Lab` run them.

Secondary sites have no database, so no SQL Monitor.
"""

from __future__ import annotations

from sitesrv.components.despooler import Despooler
from sitesrv.components.distmgr import DistributionManager
from sitesrv.components.inboxmgr import InboxManager
from sitesrv.components.offermgr import OfferManager
from sitesrv.components.replmgr import ReplicationManager
from sitesrv.components.scheduler import Scheduler
from sitesrv.components.sender import Sender
from sitesrv.components.sqlmon import SqlMonitor
from sitesrv.components.statmgr import StatusManager
from sitesrv.runtime.registry import Registry

_EVERY_SITE = (DistributionManager, ReplicationManager, Scheduler, Sender, Despooler,
               InboxManager, OfferManager, StatusManager)
SMS_COMPONENTS = Registry(primary=(SqlMonitor, *_EVERY_SITE), secondary=_EVERY_SITE)
# The same registry by name, for the per-site processes (`sitesrv run --components`).
SMS_COMPONENTS_SPEC = f"{__name__}:SMS_COMPONENTS"
