"""Status Manager (SMS_STATUS_MANAGER): stores the site's status messages and sends them up.

Every component hands its messages to `statmgr.box\\statmsgs` as `.SVF` files (logs/statmsg.py);
child sites' messages arrive there too, through Replication Manager. Status Manager writes each
to the site database (a primary's; a secondary has none) and replicates it to the parent site,
so the central site's database holds the messages of every site below it. Status 1200 sums up
how many "were written to the site database" and "were replicated to the parent site"
(docs/sources.md#status-manager). A message stamped later than the site's clock waits in
`statmgr.box\\futureq` until it is due (Q246749); one the busy database refused waits in
`statmgr.box\\retry` (Q215059), where the runtime retries it as the database frees up.
A message of a site other than this one and those below it goes to `corrupt\\`: no component
nor replication brings one, and the sites above would store it too.
"""

from __future__ import annotations

from sitesrv.components.distmgr.pkgsend import subtree
from sitesrv.components.statusup import STATUS_PRIORITY, queue_replication
from sitesrv.db.sitedb import is_busy
from sitesrv.formats import svf
from sitesrv.lab.boxes import STATMGR_FUTUREQ, STATMGR_RETRY, STATMGR_STATMSGS
from sitesrv.lab.clock import lab_time_text
from sitesrv.logs.statmsg import from_file
from sitesrv.runtime.component import Component
from sitesrv.runtime.inbox import InboxSpec, WorkItem

PATTERNS = (f"*{svf.EXTENSION}",)


class StatusManager(Component):
    name = "SMS_STATUS_MANAGER"
    log_name = "statmgr.log"
    reports_only = True
    # The retried ones first: they are the oldest.
    inboxes = (InboxSpec(STATMGR_RETRY, PATTERNS), InboxSpec(STATMGR_STATMSGS, PATTERNS),
               InboxSpec(STATMGR_FUTUREQ, PATTERNS))

    def start(self) -> None:
        self.processed = self.written = self.replicated = 0
        # Asked for every message, and the context's hierarchy is fixed for its life: the codes
        # of this site and those below it, and of every site of the lab, are worked out once.
        hierarchy, site = self.ctx.hierarchy, self.ctx.site.code
        self.ours = frozenset(subtree(hierarchy, site))
        self.lab_sites = frozenset(s.code for s in hierarchy.sites)

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            self._summary()
            return False
        # Read once: the bytes that read are the ones replicated. Unreadable: the runtime puts
        # it in corrupt\ with a line.
        data = svf.LAYOUT.limits.read(item.path, svf.LAYOUT.kind)
        record = svf.decode(data, item.path)
        if (problem := self._not_ours(record.site_code)) is not None:
            item.quarantine(problem)
            return True
        folder = item.inbox.spec.folder
        if record.time > self.ctx.clock.now():
            self._future(item, record.time)
            return True
        if folder != STATMGR_RETRY:  # a retried message was replicated before it waited
            self._replicate(item, data)
        if self._store(item, record):
            item.done()
            self.processed += 1
        return True

    def _not_ours(self, site_code: str) -> str | None:
        """Why a message of `site_code` is refused here, or None: a site's messages are its
        own components' and those replication brings up from the sites below it."""
        code = site_code.upper()
        if code in self.ours:
            return None
        if code not in self.lab_sites:
            return f"it reports status of site {code}, which is not in this lab"
        return (f"it reports status of site {code}, which is neither {self.ctx.site.code} nor a "
                "site below it")

    def _future(self, item: WorkItem, when: float) -> None:
        """A message from the future waits in futureq until the site's clock reaches it."""
        if item.inbox.spec.folder == STATMGR_FUTUREQ:
            item.defer(when, f"is stamped {lab_time_text(when)}, later than now")
            return
        dest = self.ctx.layout.inbox(STATMGR_FUTUREQ) / item.name
        item.forward(dest)
        self.ctx.log.write(f"Status message {item.name} is stamped {lab_time_text(when)}, "
                           f"later than now; it waits in {self.ctx.windows(dest)}")

    def _replicate(self, item: WorkItem, data: bytes) -> None:
        """Send the message on to the parent site; the name derives from the file's, so a redo
        after a crash replaces the first copy."""
        parent = self.ctx.site.parent
        if parent is None:
            return
        queue_replication(self.ctx, parent, STATUS_PRIORITY, svf.EXTENSION, data, key=item.name)
        self.replicated += 1

    def _store(self, item: WorkItem, record: svf.StatusMessageFile) -> bool:
        """Write the message to the site database, if the site has one. False: the database is
        busy and the message moved to retry (there the runtime waits for the database)."""
        if not self.ctx.site.is_primary:
            return True
        try:
            db = self.ctx.database
            assert db is not None, "a primary site has a database"
            db.insert_status_message(from_file(record))
        except Exception as e:  # a busy database is the one cause to wait here
            if not is_busy(e) or item.inbox.spec.folder == STATMGR_RETRY:
                raise
            dest = self.ctx.layout.inbox(STATMGR_RETRY) / item.name
            item.forward(dest)
            self.ctx.log.write(f"The site database is busy; status message {item.name} "
                               f"waits in {self.ctx.windows(dest)}")
            return False
        self.written += 1
        return True

    def _summary(self) -> None:
        """Status 1200's counts, once the inboxes are empty."""
        if self.processed:
            self.ctx.log.write(
                f"SMS Status Manager processed {self.processed} status messages: "
                f"{self.written} were written to the site database, {self.replicated} were "
                f"replicated to the parent site.")
        self.processed = self.written = self.replicated = 0
