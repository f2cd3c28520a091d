"""The text `sitesrv hierarchy` prints: the site tree, servers, DPs and addresses."""

from __future__ import annotations

from pathlib import Path

from sitesrv.lab.hierarchy import ALLOWED_PRIORITIES, DAY_NAMES, Address, Hierarchy, Site


def render_hierarchy(h: Hierarchy, lab_root: Path | None = None) -> str:
    lines: list[str] = []
    if lab_root is not None:
        lines.append(f"Lab {lab_root}  (timing profile {h.timing_profile}, "
                     f"clock rate {h.clock_rate:g}, durability {h.durability})")
    lines.append("")
    lines.extend(_site_lines(h, h.central, prefix="", last=True, top=True))
    lines.append("")
    lines.append("Addresses")
    if not h.addresses:
        lines.append("  (none)")
    for a in h.addresses:
        lines.append(f"  {a.from_site} -> {a.to_site}  {a.type}  priority {a.priority}  "
                     f"{_rate(a)}  latency {a.latency:g}s  schedule: {_schedule(a)}")
    swd = h.software_distribution
    lines.append("")
    lines.append(f"Software distribution: send from nearest site "
                 f"{'on' if swd.send_from_nearest_site else 'off'}, {swd.retries} retries, "
                 f"DP update mode {swd.dp_update_mode}"
                 + (", attribute changes count (pre-KB872943)"
                    if swd.attribute_changes_count else ""))
    lines.append(f"Sender: {h.sender.max_concurrent} concurrent sendings, "
                 f"{h.sender.max_per_site} per site, {h.sender.retries} retries")
    return "\n".join(lines) + "\n"


def _site_lines(h: Hierarchy, site: Site, prefix: str, last: bool, top: bool) -> list[str]:
    branch = "" if top else ("└── " if last else "├── ")
    hotfixes = f"  hotfixes {', '.join(sorted(site.hotfixes))}" if site.hotfixes else ""
    out = [f"{prefix}{branch}{site.code}  {site.name}  [{site.type}]  server {site.server}  "
           f"drives {site.drive}:/{site.package_drive}:{hotfixes}"]
    child_prefix = prefix if top else prefix + ("    " if last else "│   ")
    children = h.children(site.code)
    bar = "│   " if children else "    "
    for dp in site.distribution_points:
        out.append(f"{child_prefix}{bar}DP \\\\{dp.server}\\{dp.share}")
    if not site.distribution_points:
        out.append(f"{child_prefix}{bar}(no distribution points)")
    for i, child in enumerate(children):
        out.extend(_site_lines(h, child, child_prefix, i == len(children) - 1, top=False))
    return out


def _rate(a: Address) -> str:
    return "unlimited" if a.rate_limit is None else f"{a.rate_limit} bytes/s"


def _schedule(a: Address) -> str:
    if a.paused:
        return "PAUSED (closed)"
    if not a.schedule:
        return "open 24x7"
    parts = []
    for b in a.schedule:
        days = "all days" if len(b.days) == 7 else ",".join(DAY_NAMES[d] for d in sorted(b.days))
        span = f"{b.start // 60:02d}:{b.start % 60:02d}-{b.end // 60:02d}:{b.end % 60:02d}"
        allowed = "/".join(str(p) for p in ALLOWED_PRIORITIES[b.availability]) or "none"
        parts.append(f"{days} {span} {b.availability} (priorities {allowed})")
    return "; ".join(parts) + "; open otherwise"
