"""DumpSend for a sitesrv lab: print a send request (`.srq`/`.srs`) record by record.

The SMS toolkit's DumpSend printed the binary send request files of `schedule.box\\outboxes`
so that an administrator could see why a send waits (Q123221, Q200645). sitesrv's send requests
are text (sitesrv/formats/srq.py); this tool prints them with DumpSend's record names and field
labels, says which records DumpSend would not parse, and adds what the records mean for the
request's next step. It reads the files only, never disturbing a Sender that works on them.
User documentation: docs/dumpsend.md.
"""
