"""One realistic record of each kind (the default lab: ZZZ -> P00 -> S01) and its exact text."""

from __future__ import annotations

import attrs

from sitesrv.formats import job, offer, pkg, pkn, sni, srq, sta, svf

T0 = 1180947600.0  # 2007-06-04T09:00:00.000Z, where the step-mode clock starts
SHA = "2a97516c354b68848cdbd8f54a226a0a55b21ed138e207ad6c5cbb9c00aa5aea"

NOTIFICATION = pkn.PackageNotification(package_id="ZZZ00001", change=pkn.Change.UPDATE)
NOTIFICATION_TEXT = """\
[NOTIFICATION]
Table=PKGNOTIFICATION
Type=UPDATE
KeyName=ZZZ00001
[END]
"""

REPLICATION = pkg.PackageReplication(
    package_id="ZZZ00001", name="Demo", version="1.0", source_site="ZZZ", source_version=2,
    last_refresh_time=T0 + 1, action=pkg.PackageAction.ADD, issuing_site="ZZZ",
    content_site="P00",
    servers=(pkg.PackageServer(site_code="S01", server="SEC01", share="SMSPKGC$",
                               nal_path='MSWNET:["SMS_SITE=S01"]\\\\SEC01\\SMSPKGC$\\',
                               action=pkg.PackageAction.ADD),))
REPLICATION_TEXT = r"""[PACKAGE DEFINITION]
PackageID=ZZZ00001
Name=Demo
Version=1.0
SourceSite=ZZZ
SourceVersion=2
LastRefreshTime=2007-06-04T09:00:01.000Z
Priority=2
PkgFlags=0
ShareName=
ShareType=1
PkgSourceFlag=2
PreferredAddress=*
IgnoreSchedule=0
[ACTION]
Action=ADD
IssuingSite=ZZZ
ContentSite=P00
Forward=0
Content=0
[PACKAGE SERVER]
SiteCode=S01
Server=SEC01
Share=SMSPKGC$
NALPath=MSWNET:["SMS_SITE=S01"]\\SEC01\SMSPKGC$\
Action=ADD
[END]
"""

STATUS_REPORT = sta.PackageStatusReport(reporting_site="P00", package_id="ZZZ00001", rows=(
    sta.PkgStatusRow(package_id="ZZZ00001", type=sta.MASTER, site_code="P00",
                     pkg_server="MGMT03", status=2, source_version=2, update_time=T0 + 60.25,
                     location="\\\\MGMT03\\SMS_CPSF$\\ZZZ00001.PCK"),
    sta.PkgStatusRow(package_id="ZZZ00001", type=sta.COPY, site_code="P00",
                     pkg_server='MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\SMSPKG\\',
                     status=3, source_version=2, update_time=T0 + 61,
                     location="\\\\REMOTE_DP\\smsapps\\SMSPKG\\ZZZ00001\\",
                     share_name="smsapps\\SMSPKG"),
))
STATUS_REPORT_TEXT = r"""[STATUS REPORT]
ReportingSite=P00
PackageID=ZZZ00001
[PKGSTATUS]
ID=ZZZ00001
Type=1
SiteCode=P00
PkgServer=MGMT03
Status=2
SourceVersion=2
UpdateTime=2007-06-04T09:01:00.250Z
Location=\\MGMT03\SMS_CPSF$\ZZZ00001.PCK
ShareName=
Personality=0
[PKGSTATUS]
ID=ZZZ00001
Type=2
SiteCode=P00
PkgServer=MSWNET:["SMS_SITE=P00"]\\REMOTE_DP\smsapps\SMSPKG\
Status=3
SourceVersion=2
UpdateTime=2007-06-04T09:01:01.000Z
Location=\\REMOTE_DP\smsapps\SMSPKG\ZZZ00001\
ShareName=smsapps\SMSPKG
Personality=0
[END]
"""

JOB = job.SchedulerJob(
    job_id="00000029", description="Software Distribution for Demo, Package ID = ZZZ00001",
    destination_site="P00", instruction_type=job.PACKAGE_INSTRUCTION,
    transfer_root="F:\\SMSPKG\\ZZZ00001.PCK", payload="PCK", package_id="ZZZ00001",
    package_version=2, originating_site="ZZZ", state=job.JobState.ACTIVE,
    send_request_id="2_001ZZZ", created=T0 + 2)
JOB_TEXT = r"""[JOB]
JobID=00000029
Description=Software Distribution for Demo, Package ID = ZZZ00001
Destination Site=P00
Preferred Address=*
Priority=2
Instruction Type=MICROSOFT|SMS|MINIJOBINSTRUCTION|PACKAGE
Transfer Root=F:\SMSPKG\ZZZ00001.PCK
Payload=PCK
Package ID=ZZZ00001
Package Version=2
Originating Site=ZZZ
State=ACTIVE
Send Request ID=2_001ZZZ
Created=2007-06-04T09:00:02.000Z
[END]
"""

SEND_REQUEST = srq.SendRequest(
    priority=2, dest_site="P00", job_id="00000029", request_id="2_001ZZZ",
    outbox="\\\\MGMT01\\SMS_ZZZ\\inboxes\\schedule.box\\outboxes\\LAN",
    status=srq.SenderStatus.SENDING, first_started_at=T0 + 3, started_at=T0 + 3,
    heartbeat_at=T0 + 4.5, total_bytes=1048576, bytes_left=524288, sync_point=524288,
    file_type=srq.FileType.PACKAGE, connects=1, sender_id="SMS_LAN_SENDER",
    addresses=(srq.SenderAddress(address="\\\\MGMT03\\SMS_SITE"),),
    package_file="F:\\SMSPKG\\ZZZ00001.PCK",
    instruction_file="\\\\MGMT01\\SMS_ZZZ\\inboxes\\schedule.box\\tosend\\00000029.IPT",
    routing_master_request_id="2_001ZZZ", originating_site="ZZZ", final_destination_site="P00",
    confirmation_needed=True)
SEND_REQUEST_TEXT = r"""[SEND REQUEST DATA]
Priority=2
Dest Site=P00
Job=00000029
Job Request=2_001ZZZ
Outbox=\\MGMT01\SMS_ZZZ\inboxes\schedule.box\outboxes\LAN
Preferred Address=*
Ignore Schedule=0
[STATUS]
Sender Status=SREQ_STATUS_SENDING
First Sender Started At=2007-06-04T09:00:03.000Z
Sender Started At=2007-06-04T09:00:03.000Z
Sender Ended At=
Sender Gate Heartbeat At=2007-06-04T09:00:04.500Z
Scheduler To Restart At=
Total Bytes To Send=1048576
Bytes Left To Send=524288
Sync Point=524288
File Type=2
Number Of Connects=1
Sender ID=SMS_LAN_SENDER
[CANCEL]
Mode=Not cancelled
[ACTION CODE]
Action Code=0
[ADDRESS]
Address=\\MGMT03\SMS_SITE
Address Type=LAN
[PACKAGE FILE]
Path=F:\SMSPKG\ZZZ00001.PCK
[INSTRUCTION FILE]
Path=\\MGMT01\SMS_ZZZ\inboxes\schedule.box\tosend\00000029.IPT
[ROUTING]
Routing Master Request ID=2_001ZZZ
Job Originating Site=ZZZ
Job Final Destination Site=P00
[CONFIRMATION]
Confirmation Needed=1
[END]
"""

INSTRUCTION = sni.Instruction(
    instruction_type=job.PACKAGE_INSTRUCTION, job_id="00000029", request_id="2_001ZZZ",
    originating_site="ZZZ", sending_site="ZZZ", final_destination_site="P00",
    package_id="ZZZ00001", package_version=2, payload="PCK", payload_size=1048576,
    payload_sha256=SHA, description="Software Distribution for Demo, Package ID = ZZZ00001",
    package=attrs.evolve(REPLICATION, action=pkg.PackageAction.UPDATE, content_site="ZZZ",
                         forward=True, servers=()))
INSTRUCTION_TEXT = f"""\
[INSTRUCTION]
Type=MICROSOFT|SMS|MINIJOBINSTRUCTION|PACKAGE
Job ID=00000029
Send Request ID=2_001ZZZ
Originating Site=ZZZ
Sending Site=ZZZ
Final Destination Site=P00
Package ID=ZZZ00001
Package Version=2
Payload=PCK
Payload Size=1048576
Payload SHA256={SHA}
Priority=2
Description=Software Distribution for Demo, Package ID = ZZZ00001
[PACKAGE DEFINITION]
PackageID=ZZZ00001
Name=Demo
Version=1.0
SourceSite=ZZZ
SourceVersion=2
LastRefreshTime=2007-06-04T09:00:01.000Z
Priority=2
PkgFlags=0
ShareName=
ShareType=1
PkgSourceFlag=2
PreferredAddress=*
IgnoreSchedule=0
[ACTION]
Action=UPDATE
IssuingSite=ZZZ
ContentSite=ZZZ
Forward=1
Content=0
[END]
"""

OFFER = offer.Offer(advertisement_id="ZZZ20000", name="Demo - Setup", package_id="ZZZ00001",
                    program_name="Setup", collection_id="ZZZ10000", source_site="ZZZ",
                    present_time=T0)
OFFER_TEXT = """\
[ADVERTISEMENT]
AdvertisementID=ZZZ20000
AdvertisementName=Demo - Setup
PackageID=ZZZ00001
ProgramName=Setup
CollectionID=ZZZ10000
SourceSite=ZZZ
PresentTime=2007-06-04T09:00:00.000Z
[END]
"""

OFFER_INSTRUCTION = offer.OfferInstruction(advertisement_id="ZZZ20000", collection_id="ZZZ10000")
OFFER_INSTRUCTION_TEXT = """\
[INSTRUCTION]
AdvertisementID=ZZZ20000
CollectionID=ZZZ10000
[END]
"""

LOOKUP = offer.Lookup(advertisement_id="ZZZ20000", recipients=(
    offer.Recipient(collection_id="ZZZ10000", member_count=3),))
LOOKUP_TEXT = """\
[LOOKUP]
AdvertisementID=ZZZ20000
[RECIPIENT]
CollectionID=ZZZ10000
MemberCount=3
[END]
"""

OFFER_REPLICATION = offer.OfferReplication(
    action=offer.OfferAction.ADD, advertisement_id="ZZZ20000", offer=OFFER,
    collection=offer.CollectionFacts(collection_id="ZZZ10000", name="All Systems",
                                     member_count=3, source_site="ZZZ", revision=1180947600120),
    revision=1180947600310)
OFFER_REPLICATION_TEXT = """\
[ACTION]
Action=ADD
AdvertisementID=ZZZ20000
Revision=1180947600310
""" + OFFER_TEXT.removesuffix("[END]\n") + """\
[COLLECTION]
CollectionID=ZZZ10000
Name=All Systems
MemberCount=3
SourceSite=ZZZ
Revision=1180947600120
[END]
"""
COLLECTION_FACTS = offer.CollectionFacts(collection_id="ZZZ10000", name="All Systems",
                                         member_count=5, source_site="ZZZ", revision=1180947605420)
COLLECTION_TEXT = """\
[COLLECTION]
CollectionID=ZZZ10000
Name=All Systems
MemberCount=5
SourceSite=ZZZ
Revision=1180947605420
[END]
"""

STATUS_MESSAGE = svf.StatusMessageFile(
    message_id=2301, severity="I", level="M", module_name="SMS Server",
    component="SMS_DISTRIBUTION_MANAGER", machine_name="MGMT03", site_code="P00",
    process_id=2154, thread_id=1001, time=1181091601.0,
    strings=(svf.InsertionString(value="Demo"), svf.InsertionString(value="ZZZ00001")),
    attributes=(svf.Attribute(id=400, value="ZZZ00001"),))
STATUS_MESSAGE_TEXT = r"""[STATUS MESSAGE]
MessageID=2301
Severity=I
Level=M
ModuleName=SMS Server
Component=SMS_DISTRIBUTION_MANAGER
MachineName=MGMT03
SiteCode=P00
ProcessID=2154
ThreadID=1001
Time=2007-06-06T01:00:01.000Z
[INSERTION STRING]
Value=Demo
[INSERTION STRING]
Value=ZZZ00001
[ATTRIBUTE]
ID=400
Value=ZZZ00001
[END]
"""

# kind -> (module, record, the exact text we write for it)
EXAMPLES = {
    "pkn": (pkn, NOTIFICATION, NOTIFICATION_TEXT),
    "pkg": (pkg, REPLICATION, REPLICATION_TEXT),
    "sta": (sta, STATUS_REPORT, STATUS_REPORT_TEXT),
    "job": (job, JOB, JOB_TEXT),
    "srq": (srq, SEND_REQUEST, SEND_REQUEST_TEXT),
    "sni": (sni, INSTRUCTION, INSTRUCTION_TEXT),
    "ofr": (offer.OFFER, OFFER, OFFER_TEXT),
    "ins": (offer.INSTRUCTION, OFFER_INSTRUCTION, OFFER_INSTRUCTION_TEXT),
    "lkp": (offer.LOOKUP, LOOKUP, LOOKUP_TEXT),
    "OFR-replication": (offer.REPLICATION, OFFER_REPLICATION, OFFER_REPLICATION_TEXT),
    "COL-replication": (offer.COLLECTION, COLLECTION_FACTS, COLLECTION_TEXT),
    "svf": (svf, STATUS_MESSAGE, STATUS_MESSAGE_TEXT),
}
