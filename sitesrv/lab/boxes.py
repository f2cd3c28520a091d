"""Every inbox and folder name a site server uses, written once, as SMS spells them.

Postfix defines each queue name once (`mail_queue.h`) and every daemon uses the constant; this
module does the same for the folders below `<SITE>\\SMS\\inboxes` (`inboxes_template/` holds
the tree each site starts with). Names are SMS's, relative to `SMS\\inboxes`, with `\\`
between folders: `SiteLayout.inbox(DISTMGR_INCOMING)` is the folder on disk, and the logs
print it as `E:\\SMS\\inboxes\\distmgr.box\\INCOMING`.

It also says which names in an inbox are never work: the folders a component keeps there
(`.work`, `corrupt`), temp files and dot-files.
"""

from __future__ import annotations

# Distribution Manager: `<PkgID>.PKN` from SQL Monitor; `.PKG` and `.STA` from other sites.
DISTMGR = "distmgr.box"
DISTMGR_INCOMING = "distmgr.box\\INCOMING"

# Replication Manager: objects to send, by priority (1 high, 2 normal, 3 low); batches.
REPLMGR_OUTBOUND = {1: "replmgr.box\\outbound\\high",
                    2: "replmgr.box\\outbound\\normal",
                    3: "replmgr.box\\outbound\\low"}
REPLMGR_PROCESS = "replmgr.box\\process"
REPLMGR_READY = "replmgr.box\\ready"
REPLMGR_INCOMING = "replmgr.box\\incoming"
REPLMGR_HISTORY = "replmgr.box\\history"

# Scheduler: jobs, their instructions, routed send requests, failed jobs, the ID tokens.
SCHEDULE = "schedule.box"
SCHEDULE_TOSEND = "schedule.box\\tosend"
SCHEDULE_REQUESTS = "schedule.box\\requests"
SCHEDULE_FAILED = "schedule.box\\failed"
SCHEDULE_UID = "schedule.box\\UID"
# The senders' outboxes: send requests (`.srq`) in, their ends (`.srs`) back to the Scheduler.
OUTBOX_LAN = "schedule.box\\outboxes\\LAN"
OUTBOX_COURIER = "schedule.box\\outboxes\\COURIER"

# Courier Sender Manager: the records of the parcels a site made, and of those it received.
COURSEND_OUTGOING = "coursend.box\\outgoing"
COURSEND_RECEIVED = "coursend.box\\received"

# Despooler: shared as SMS_SITE, where other sites' senders write.
DESPOOLER_RECEIVE = "despoolr.box\\receive"

# Inbox Manager's sources, mirrored to the client access point (`CAP_<SITE>\\<box>`).
PKGINFO = "pkginfo.box"
OFFERINF = "offerinf.box"
CAP_BOXES = (PKGINFO, OFFERINF)

# Offer Manager: `<AdvertisementID>.OFN` from SQL Monitor; replicated advertisements (`.OFR`).
OFFERMGR = "offermgr.box"
OFFERMGR_INCOMING = "offermgr.box\\INCOMING"
# Client configuration sources: a secondary's Offer Manager keeps each offer's `.ofr` there too,
# and only Distribution Manager deletes a deleted package's (Q257318). Made when first needed.
CLICFG_SRC = "clicfg.src"

# Status Manager: status messages (`.SVF`) from the site's components and from child sites;
# those stamped later than the site's clock (Q246749); those the busy database refused (Q215059).
STATMGR_STATMSGS = "statmgr.box\\statmsgs"
STATMGR_FUTUREQ = "statmgr.box\\futureq"
STATMGR_RETRY = "statmgr.box\\retry"

# Collection Evaluator's inbox: Distribution Manager leaves `<PkgID>.CLF` there for each package.
COLLEVAL = "colleval.box"

# Every inbox named above: the folders a site has once each is made (some only when first needed).
NAMED = (DISTMGR, DISTMGR_INCOMING, *REPLMGR_OUTBOUND.values(), REPLMGR_PROCESS, REPLMGR_READY,
         REPLMGR_INCOMING, REPLMGR_HISTORY, SCHEDULE, SCHEDULE_TOSEND, SCHEDULE_REQUESTS,
         SCHEDULE_FAILED, SCHEDULE_UID, OUTBOX_LAN, OUTBOX_COURIER, COURSEND_OUTGOING,
         COURSEND_RECEIVED, DESPOOLER_RECEIVE, *CAP_BOXES, OFFERMGR, OFFERMGR_INCOMING,
         CLICFG_SRC, STATMGR_STATMSGS, STATMGR_FUTUREQ, STATMGR_RETRY, COLLEVAL)

# Folders a component keeps inside an inbox (runtime/inbox.py).
WORK_DIR = ".work"  # claimed files
CORRUPT_DIR = "corrupt"  # quarantined files
QUARANTINE_LOG = "quarantine.log"  # in corrupt\\: the log line of every quarantine there


def ignored_by_scans(name: str) -> bool:
    """Scanners never look at temp files (`X.TMP`, `.X.<writer>.tmp`) or other dot-files."""
    return name.startswith(".") or name.upper().endswith(".TMP")


def is_removable_temp(name: str) -> bool:
    """Temp files start-up recovery may delete once stale: any `*.tmp`, never other dot-files."""
    return name.upper().endswith(".TMP")
