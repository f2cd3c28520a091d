"""The smallest valid file of each of the 16 kinds the sections reader parses.

Small files are the worst case for what a kind's parse cache holds: the most records per MiB
of text (tests/formats/test_parse_cache.py, docs/limits.md). The twelve kinds with a strategy
in strategies.py are what hypothesis shrinks that strategy to; the others are built by hand.
"""

from __future__ import annotations

from sitesrv.formats import job, offer, parcel, pkg, pkn, rpl, sni, srq, sta, storedpkg, svf
from sitesrv.formats.sections import Layout

PACKING_LIST = """\
[PARCEL]
ParcelID=000-0000
Name=0
SendingSite=000
Created=1970-01-01T00:00:00.000Z
[FILE]
Name=0
Size=0
[SEND REQUEST]
RequestID=1_000000
DestSite=000
JobID=00000000
PackageID=
Instruction=0
PackageFile=
DeliverTo=0
[END]
"""

SMALLEST: dict[str, tuple[Layout, str]] = {
    "pkn": (pkn.LAYOUT, """\
[NOTIFICATION]
Table=A
Type=INSERT
KeyName=00000000
[END]
"""),
    "pkg": (pkg.LAYOUT, """\
[PACKAGE DEFINITION]
PackageID=00000000
Name=0
Version=
SourceSite=000
SourceVersion=0
LastRefreshTime=1970-01-01T00:00:00.000Z
Priority=1
PkgFlags=0
ShareName=
ShareType=1
PkgSourceFlag=1
PreferredAddress=*
IgnoreSchedule=0
[ACTION]
Action=NONE
IssuingSite=000
ContentSite=
Forward=0
Content=0
[END]
"""),
    "sta": (sta.LAYOUT, """\
[STATUS REPORT]
ReportingSite=000
PackageID=00000000
[PKGSTATUS]
ID=00000000
Type=1
SiteCode=000
PkgServer=0
Status=0
SourceVersion=0
UpdateTime=1970-01-01T00:00:00.000Z
Location=
ShareName=
Personality=0
[END]
"""),
    "job": (job.LAYOUT, """\
[JOB]
JobID=00000000
Description=
Destination Site=000
Preferred Address=*
Priority=1
Instruction Type=0
Transfer Root=
Payload=NONE
Package ID=
Package Version=0
Originating Site=000
State=PENDING
Send Request ID=
Created=1970-01-01T00:00:00.000Z
[END]
"""),
    "srq": (srq.LAYOUT, """\
[SEND REQUEST DATA]
Priority=1
Dest Site=000
Job=00000000
Job Request=1_000000
Outbox=0
Preferred Address=*
Ignore Schedule=0
[STATUS]
Sender Status=SREQ_STATUS_NONE
First Sender Started At=
Sender Started At=
Sender Ended At=
Sender Gate Heartbeat At=
Scheduler To Restart At=
Total Bytes To Send=0
Bytes Left To Send=0
Sync Point=0
File Type=0
Number Of Connects=0
Sender ID=
[CANCEL]
Mode=Not cancelled
[ACTION CODE]
Action Code=0
[ADDRESS]
Address=0
Address Type=LAN
[PACKAGE FILE]
Path=
[INSTRUCTION FILE]
Path=0
[ROUTING]
Routing Master Request ID=
Job Originating Site=000
Job Final Destination Site=000
[CONFIRMATION]
Confirmation Needed=0
[END]
"""),
    "sni": (sni.LAYOUT, """\
[INSTRUCTION]
Type=0
Job ID=00000000
Send Request ID=
Originating Site=000
Sending Site=000
Final Destination Site=000
Package ID=
Package Version=0
Payload=PCK
Payload Size=0
Payload SHA256=0000000000000000000000000000000000000000000000000000000000000000
Priority=1
Description=
[END]
"""),
    "storedpkg": (storedpkg.LAYOUT, """\
[STORED PACKAGE INFORMATION]
PackageID=00000000
StoredPkgVersion=0
StoredPkgPath=
[END]
"""),
    "ofr": (offer.OFFER, """\
[ADVERTISEMENT]
AdvertisementID=00000000
AdvertisementName=
PackageID=00000000
ProgramName=0
CollectionID=00000000
SourceSite=000
PresentTime=1970-01-01T00:00:00.000Z
[END]
"""),
    "ins": (offer.INSTRUCTION, """\
[INSTRUCTION]
AdvertisementID=00000000
CollectionID=00000000
[END]
"""),
    "lkp": (offer.LOOKUP, """\
[LOOKUP]
AdvertisementID=00000000
[RECIPIENT]
CollectionID=00000000
MemberCount=0
[END]
"""),
    "OFR-replication": (offer.REPLICATION, """\
[ACTION]
Action=DELETE
AdvertisementID=00000000
Revision=0
[END]
"""),
    "svf": (svf.LAYOUT, """\
[STATUS MESSAGE]
MessageID=0
Severity=I
Level=A
ModuleName=0
Component=0
MachineName=0
SiteCode=000
ProcessID=0
ThreadID=0
Time=1970-01-01T00:00:00.000Z
[END]
"""),
    "collection": (offer.COLLECTION, """\
[COLLECTION]
CollectionID=00000000
Name=
MemberCount=0
SourceSite=000
Revision=0
[END]
"""),
    "packing list": (parcel.LAYOUT, PACKING_LIST),
    # A parcel record carries its packing list.
    "parcel record": (parcel.RECORD_LAYOUT, """\
[PARCEL STATUS]
Status=Created
SentAt=
TrackingNumber=
SentBy=
ConfirmedAt=
""" + PACKING_LIST),
    "rpl": (rpl.LAYOUT, """\
[REPLICATION BATCH]
Job ID=00000000
Sending Site=000
Destination Site=001
Priority=1
Transaction ID=1
Created=1970-01-01T00:00:00.000Z
[OBJECT]
Name=001_0.PKG
Size=0
SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
Data=
[END]
"""),
}
