"""The text `sitesrv hierarchy` prints: the site tree, servers, DPs and addresses."""

from __future__ import annotations

from pathlib import Path

from sitesrv.lab.hierarchy import (
    ALLOWED_PRIORITIES,
    DAY_NAMES,
    Address,
    Hierarchy,
    SharePermissions,
    Site,
)


def render_hierarchy(hierarchy: Hierarchy, lab_root: Path | None = None) -> str:
    lines: list[str] = []
    if lab_root is not None:
        lines.append(f"Lab {lab_root}  (timing profile {hierarchy.timing_profile}, "
                     f"clock rate {hierarchy.clock_rate:g}, durability {hierarchy.durability})")
    lines.append("")
    lines.extend(_site_lines(hierarchy, hierarchy.central, prefix="", last=True, top=True))
    lines.append("")
    lines.append("Addresses")
    if not hierarchy.addresses:
        lines.append("  (none)")
    for address in hierarchy.addresses:
        lines.append(f"  {address.from_site} -> {address.to_site}  {address.type}  priority {address.priority}  "
                     f"{_rate(address)}  latency {address.latency:g}s  schedule: {_schedule(address)}")
    swd = hierarchy.software_distribution
    lines.append("")
    lines.append(f"Software distribution: send from nearest site "
                 f"{'on' if swd.send_from_nearest_site else 'off'}, {swd.retries} retries, "
                 f"DP update mode {swd.dp_update_mode}"
                 + (", attribute changes count (pre-KB872943)"
                    if swd.attribute_changes_count else "")
                 + (", secondaries keep deleted packages' advertisements (Q257318)"
                    if swd.secondaries_keep_advertisements else ""))
    lines.append(f"Sender: {hierarchy.sender.max_concurrent} concurrent sendings, "
                 f"{hierarchy.sender.max_per_site} per site, {hierarchy.sender.retries} retries")
    return "\n".join(lines) + "\n"


def _site_lines(hierarchy: Hierarchy, site: Site, prefix: str, last: bool, top: bool) -> list[str]:
    branch = "" if top else ("└── " if last else "├── ")
    hotfixes = f"  hotfixes {', '.join(sorted(site.hotfixes))}" if site.hotfixes else ""
    out = [f"{prefix}{branch}{site.code}  {site.name}  [{site.type}]  server {site.server}  "
           f"drives {site.drive}:/{site.package_drive}:{hotfixes}"]
    child_prefix = prefix if top else prefix + ("    " if last else "│   ")
    children = hierarchy.children(site.code)
    bar = "│   " if children else "    "
    for dp in site.distribution_points:
        rights = ("" if dp.permissions is SharePermissions.FULL
                  else f"  permissions {dp.permissions}")
        out.append(f"{child_prefix}{bar}DP \\\\{dp.server}\\{dp.share}{rights}")
    if not site.distribution_points:
        out.append(f"{child_prefix}{bar}(no distribution points)")
    for i, child in enumerate(children):
        out.extend(_site_lines(hierarchy, child, child_prefix, i == len(children) - 1, top=False))
    return out


def _rate(address: Address) -> str:
    return "unlimited" if address.rate_limit is None else f"{address.rate_limit} bytes/s"


def _schedule(address: Address) -> str:
    if address.paused:
        return "PAUSED (closed)"
    if not address.schedule:
        return "open 24x7"
    parts = []
    for block in address.schedule:
        days = "all days" if len(block.days) == 7 else ",".join(DAY_NAMES[d] for d in sorted(block.days))
        span = f"{block.start // 60:02d}:{block.start % 60:02d}-{block.end // 60:02d}:{block.end % 60:02d}"
        allowed = "/".join(str(p) for p in ALLOWED_PRIORITIES[block.availability]) or "none"
        parts.append(f"{days} {span} {block.availability} (priorities {allowed})")
    return "; ".join(parts) + "; open otherwise"
