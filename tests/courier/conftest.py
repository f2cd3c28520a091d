"""Labs whose central site has Courier addresses, and a package that prefers the Courier."""

from __future__ import annotations

import shutil
from pathlib import Path

from sitesrv.admin import console
from sitesrv.admin.demo import write_sample_source
from sitesrv.admin.lab import Lab
from sitesrv.testing import build_lab

LAN = """
  - {from: ZZZ, to: P00, type: LAN, priority: 1}
  - {from: P00, to: ZZZ, type: LAN, priority: 1}
  - {from: P00, to: S01, type: LAN, priority: 1}
  - {from: S01, to: P00, type: LAN, priority: 1}
"""
# The default addresses, and a Courier address from the central site to the child primary.
ADDRESSES = "addresses:" + LAN + "  - {from: ZZZ, to: P00, type: COURIER, priority: 2}\n"
# And one to the grandchild, its only address from the central site (Q282494).
GRANDCHILD = ADDRESSES + "  - {from: ZZZ, to: S01, type: COURIER, priority: 1}\n"
SITES = """
sites:
  - {code: ZZZ, name: Central Site, server: MGMT01, type: primary, drive: E, package_drive: F,
     distribution_points: [{server: MGMT01}]}
  - {code: P00, name: Child Primary, server: MGMT03, type: primary, parent: ZZZ, drive: E,
     package_drive: F, distribution_points: [{server: REMOTE_DP, share: 'smsapps\\\\SMSPKG'}]}
  - {code: S01, name: Secondary Site, server: SEC01, type: secondary, parent: P00, drive: E,
     package_drive: E, distribution_points: [{server: SEC01}]}
"""
P00_DP = "P00/dp/REMOTE_DP/smsapps/SMSPKG"
S01_DP = "S01/dp/SEC01/SMSPKGC$"


def courier_lab(tmp_path: Path, addresses: str = ADDRESSES, nearest: bool = True) -> Lab:
    text = (SITES + addresses + "software_distribution: {send_from_nearest_site: "
            f"{'true' if nearest else 'false'}}}\ntiming: {{profile: lab}}\n")
    (tmp_path / "hierarchy.yaml").write_text(text)
    return build_lab(tmp_path / "lab", tmp_path / "hierarchy.yaml")


def courier_package(lab: Lab, tmp_path: Path, dps: list[str]) -> tuple[str, Path]:
    source = write_sample_source(tmp_path / "source")
    pkg_id = console.create_package(lab, "ZZZ", name="By Courier", source=source, dps=dps,
                                    preferred_sender="courier")
    return pkg_id, source


def carry(parcel: Path, lab: Lab) -> Path:
    """Take the parcel to the destination: a copy in another folder, as on a disc."""
    disc = lab.root.parent / "disc"
    disc.mkdir(exist_ok=True)
    return Path(shutil.copy(parcel, disc / parcel.name))
