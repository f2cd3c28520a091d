"""SQL Monitor (SMS_SQL_MONITOR): turns PkgNotification rows into `distmgr.box\\<PkgID>.PKN`,
and OfferNotification rows into `offermgr.box\\<AdvertisementID>.OFN` (SMS fires triggers on
the advertisement tables too; `.ofn` is the offer notification of the Resource Guide's list).

SMS fires SQL triggers; we poll the site database every `sqlmon_poll_interval`. One file per
notification row, consumed by Distribution Manager, which re-reads the database (KB834123; the
log lines: docs/sources.md#deepmicrosoft).
The rows are deleted only once the files exist, so a crash in between loses nothing.
"""

from __future__ import annotations

from pathlib import Path

from sitesrv.db.sitedb import PackageAction, SiteDatabase
from sitesrv.formats import offer, pkn
from sitesrv.lab.boxes import DISTMGR, OFFERMGR
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
        if not self.db.has_notifications():
            self.ctx.wake_at(self.ctx.clock.now() + self.ctx.timing.sqlmon_poll_interval)
            return False
        with self.db.transaction():
            rows = self.db.take_notifications()
            for row in rows:
                self._notify(TABLE, CHANGES[row.Type], row.PkgID, self.ctx.layout.inbox(DISTMGR)
                             / pkn.pkn_name(row.PkgID))
            offers = self.db.take_offer_notifications()
            for offer_row in offers:
                self._notify(offer.NOTIFICATION_TABLE, CHANGES[offer_row.Type], offer_row.OfferID,
                             self.ctx.layout.inbox(OFFERMGR)
                             / offer.notification_name(offer_row.OfferID), key_field="advertisement")
        if rows or offers:
            return True
        self.ctx.wake_at(self.ctx.clock.now() + self.ctx.timing.sqlmon_poll_interval)
        return False

    def _notify(self, table: str, change: pkn.Change, key: str, path: Path, *,
                key_field: str = "package") -> None:
        """One notification row: its log lines, and the file for the component it wakes."""
        self.ctx.log.write("CTriggerManager::InstanceThread: pipe=776:")
        self.ctx.log.write(pipe_message(self.ctx.site.code, table, change, key))
        self.ctx.log.write(f"Received notification: Table={table}, Type={change}, "
                           f"KeyName={key}.")
        record = pkn.PackageNotification(package_id=key, change=change, table=table)
        self.ctx.publish(path, pkn.encode(record))
        self.ctx.log.write(f"Created notification file {self.ctx.windows(path)}")
        self.ctx.emit("notification", **{key_field: key}, file=self.ctx.windows(path))
