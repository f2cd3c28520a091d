"""The main job: a sample package created at the central site and sent to a DP at every site.

`sitesrv demo` (and `make demo`) builds the lab if needed, writes a small sample package source
(a few files, one of several MB), creates the package at the central site targeted to one DP
at each site and advertises its program to a collection of three clients, runs the lab until it
is idle, and shows the central site's status, the package's journey and every site's client
access point (the package's `.PKG`, `.NAL`, `.ICO` and the advertisement's `.ofr`, `.ins`,
`.lkp`).
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path

from sitesrv.admin import advertisements, console
from sitesrv.admin.lab import Lab
from sitesrv.files.names import escaped_name
from sitesrv.lab.boxes import CAP_BOXES
from sitesrv.lab.clock import VIRTUAL_EPOCH

SOURCE_FOLDER = "demo-source"
PAYLOAD_BYTES = 4 * 1024 * 1024
COLLECTION = "All Systems"
CLIENTS = 3


def write_files(folder: Path, files: Mapping[str, bytes]) -> Path:
    """A package source folder holding `files` (relative path -> bytes); returns `folder`.

    Each file gets the same modification time, the lab's first instant: a compressed package
    records its files' times, so the same files make the same bytes, run after run."""
    folder.mkdir(parents=True, exist_ok=True)
    for relative, data in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (VIRTUAL_EPOCH, VIRTUAL_EPOCH))
    return folder


def write_sample_source(folder: Path) -> Path:
    """The same bytes every time, so demo runs compare."""
    return write_files(folder, {
        "README.TXT": b"Sample package made by sitesrv demo.\r\n",
        "SETUP.INI": b"[Setup]\r\nProgram=SETUP.EXE /q\r\n",
        "DATA/PAYLOAD.BIN": random.Random(936465).randbytes(PAYLOAD_BYTES),
    })


def create_demo_package(lab: Lab) -> str:
    """The sample package at the central site, with the first DP of every site."""
    source = write_sample_source(lab.root / SOURCE_FOLDER)
    dps = [f"{s.code}:{s.distribution_points[0].server}"
           for s in lab.hierarchy.sites if s.distribution_points]
    return console.create_package(lab, lab.hierarchy.central.code, name="Sample Package",
                                  source=source, dps=dps)


def advertise_demo_package(lab: Lab, package_id: str) -> str:
    """The sample package's program advertised at the central site to the demo collection
    (made on the first run, used again by the next ones); returns the AdvertisementID."""
    central = lab.hierarchy.central.code
    known = [c for c in advertisements.list_collections(lab, central) if c.Name == COLLECTION]
    collection = known[0].CollectionID if known else advertisements.create_collection(
        lab, central, name=COLLECTION, clients=CLIENTS)
    return advertisements.create_advertisement(lab, central, package_id=package_id,
                                               program="SETUP.EXE /q", collection_id=collection)


def cap_lines(lab: Lab) -> list[str]:
    """Each site's client access point: what its inboxes hold, as a client would see them."""
    lines = []
    for site in lab.layout.sites():
        for box in CAP_BOXES:
            folder = site.cap / box
            names = sorted(escaped_name(p.name) for p in folder.iterdir()) if folder.is_dir() else []
            lines.append(f"  {site.unc(folder)}: {' '.join(names) or '(empty)'}")
    return lines
