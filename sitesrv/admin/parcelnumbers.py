"""Parcel numbers: `<SITE>-<nnnn>`, each given once, even to two commands at the same moment.

A number is taken by creating its claim, the empty file `<SITE>\\SMS\\state\\courier-parcels\\
<SITE>-<nnnn>`, with O_EXCL: the operating system lets one creator have it (on Windows too), so
two `courier create` at one site (two processes, or a command beside a script) can never both
take a number, even where the site's lock (courierboxes.one_manager) would not keep them apart;
the one that finds the claim made tries the next. The
claims are never deleted, so a number stays given after its parcel and record are deleted: the
receiving site knows a parcel by its ID, and would take a new parcel for one it received
already. The next number is one more than the highest claim, the highest parcel in
`coursend.box\\outgoing` and `LAB\\media`, and the last number of `courier-parcels.json` (the
counter of labs made before the claims, read, never written).
"""

from __future__ import annotations

import json
from pathlib import Path

from sitesrv.admin.courierboxes import problem_of
from sitesrv.admin.lab import Lab
from sitesrv.errors import UserError
from sitesrv.files.atomic import sync_dirs, write_temp
from sitesrv.files.regular import STATE_FILE_BYTES, read_limited
from sitesrv.formats import parcel
from sitesrv.lab.boxes import COURSEND_OUTGOING
from sitesrv.lab.hierarchy import Site

MAX_PARCELS = 9999  # a parcel ID is the site code, '-' and 4 digits
CLAIMS_DIR = "courier-parcels"  # in <SITE>\SMS\state: one empty file per number given
COUNTER_FILE = "courier-parcels.json"  # in <SITE>\SMS\state: {"last": <n>}, before the claims


def claims_folder(lab: Lab, site: Site) -> Path:
    return lab.site(site.code).state_dir / CLAIMS_DIR


def take(lab: Lab, site: Site) -> str:
    """The next parcel ID of the site, claimed: no other command gets it, now or later."""
    folder = claims_folder(lab, site)
    number = max(given(lab, site)) + 1
    while number <= MAX_PARCELS:
        claim = folder / f"{site.code}-{number:04d}"
        try:
            write_temp(claim, b"", lab.hierarchy.durability, exclusive=True)
        except FileExistsError:
            number += 1  # another command claimed it since the listing
            continue
        except OSError as e:
            raise UserError(f"No parcel was made: the parcel number {claim.name} cannot be "
                            f"claimed in {folder} ({problem_of(e)}). Make that folder one "
                            "sitesrv may write into, then try again.") from None
        sync_dirs(lab.hierarchy.durability, folder)
        return claim.name
    raise UserError(f"Site {site.code} has used the last parcel number, {site.code}-"
                    f"{MAX_PARCELS}: a parcel ID has 4 digits, and a number is never given "
                    "twice (the receiving site would take the new parcel for one it "
                    "received already). Send its packages by the Standard Sender from "
                    "now on: 'sitesrv package set-preferred-sender PKGID lan'.")


def given(lab: Lab, site: Site) -> list[int]:
    """Every number the site is known to have given: its claims, its parcels' records and
    files (only names that are exactly a claim's or a parcel's, in any case) and the old
    counter's last number."""
    here = lab.site(site.code)
    numbers = [_old_counter(site.code, here.state_dir / COUNTER_FILE)]
    for folder, extension in ((claims_folder(lab, site), ""),
                              (here.inbox(COURSEND_OUTGOING), parcel.EXTENSION),
                              (lab.layout.media, parcel.EXTENSION)):
        if folder.is_dir():
            numbers += [number_of(site.code, p.name, extension) for p in folder.iterdir()]
    return numbers


def number_of(site_code: str, name: str, extension: str) -> int:
    """The number of `<SITE>-nnnn<extension>` (any case), 0 for any other name."""
    digits = name[4:8]
    if (len(digits) != 4 or not all(c in "0123456789" for c in digits)
            or name.upper() != f"{site_code}-{digits}{extension}".upper()):
        return 0
    return int(digits)


def _old_counter(site_code: str, counter: Path) -> int:
    """The last parcel number courier-parcels.json holds, 0 if there is none."""
    try:
        last = json.loads(read_limited(counter, STATE_FILE_BYTES).decode("utf-8"))["last"]
        if isinstance(last, bool) or not isinstance(last, int) or last < 0:
            raise ValueError(last)
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, KeyError, TypeError) as e:
        problem = problem_of(e) if isinstance(e, OSError) else 'it is not {"last": <number>}'
        raise UserError(f"The parcel counter {counter} cannot be read ({problem}); it holds "
                        f"the last parcel number site {site_code} gave before {CLAIMS_DIR}\\ "
                        f'held one file per number. Write into it {{"last": N}}, N the '
                        f"highest number of a parcel {site_code} ever made, then try "
                        "again.") from None
    return last
