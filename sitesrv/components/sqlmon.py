"""SQL Monitor (SMS_SQL_MONITOR): turns PkgNotification rows into `distmgr.box\\<PkgID>.PKN`.

SMS fires SQL triggers; we poll the site database every `sqlmon_poll_interval`. One file per
notification row, consumed by Distribution Manager, which re-reads the database (KB834123; the
log lines: docs/sources.md#deepmicrosoft).
The rows are deleted only once the files exist, so a crash in between loses nothing.
"""

from __future__ import annotations

from sitesrv.db.sitedb import PackageAction, SiteDatabase
from sitesrv.formats import pkn
from sitesrv.lab.boxes import DISTMGR
from sitesrv.runtime.component import Component

CHANGES = {
    PackageAction.ADD: pkn.Change.INSERT,
    PackageAction.UPDATE: pkn.Change.UPDATE,
    PackageAction.DELETE: pkn.Change.DELETE,
    PackageAction.NONE: pkn.Change.UPDATE,
}
TABLE = "PKGNOTIFICATION"


def pipe_message(site: str, table: str, change: str, key: str) -> str:
    """The trigger pipe's length-prefixed record: `0007SMS_CEN0015PKGNOTIFICATION0006INSERT...`."""
    return "".join(f"{len(part):04d}{part}" for part in (f"SMS_{site}", table, change, key))


class SqlMonitor(Component):
    name = "SMS_SQL_MONITOR"
    log_name = "smsdbmon.log"

    def start(self) -> None:
        db = self.ctx.database
        assert db is not None, "SQL Monitor runs at primary sites only"
        self.db: SiteDatabase = db
        self.ctx.wake_at(self.ctx.clock.now())

    def work(self) -> bool:
        box = self.ctx.layout.inbox(DISTMGR)
        with self.db.transaction():
            rows = self.db.take_notifications()
            for row in rows:
                change = CHANGES[row.Type]
                self.ctx.log.write("CTriggerManager::InstanceThread: pipe=776:")
                self.ctx.log.write(pipe_message(self.ctx.site.code, TABLE, change, row.PkgID))
                self.ctx.log.write(f"Received notification: Table={TABLE}, Type={change}, "
                                   f"KeyName={row.PkgID}.")
                record = pkn.PackageNotification(package_id=row.PkgID, change=change, table=TABLE)
                path = self.ctx.publish(box / pkn.pkn_name(row.PkgID), pkn.encode(record))
                self.ctx.log.write(f"Created notification file {self.ctx.windows(path)}")
                self.ctx.emit("notification", package=row.PkgID, file=self.ctx.windows(path))
        if rows:
            return True
        self.ctx.wake_at(self.ctx.clock.now() + self.ctx.timing.sqlmon_poll_interval)
        return False
