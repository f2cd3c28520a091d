"""Reading `hierarchy.yaml`: strict, so that a lab is exactly what its file says.

Every key is known, every value is checked, and the first problem raises a `HierarchyError`
that names the file, the key and what to do. Typos must never pass silently, because a lab
engineer reproducing a field report trusts that the lab is what the file says. The
field-by-field documentation is `docs/hierarchy.md`; keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from sitesrv.errors import UserError
from sitesrv.files.atomic import Durability
from sitesrv.files.names import escaped_name, foreign_characters
from sitesrv.lab.hierarchy import (
    AVAILABILITIES,
    DAY_NAMES,
    DEFAULT_PACKAGE_LIMITS,
    DEFAULT_SHARE,
    DP_UPDATE_MODES,
    FULL_DAY_NAMES,
    KNOWN_HOTFIXES,
    Address,
    DistributionPoint,
    Hierarchy,
    PackageLimits,
    ScheduleBlock,
    SenderSettings,
    SharePermissions,
    Site,
    SoftwareDistribution,
    SourceMapping,
)
from sitesrv.lab.identifiers import SERVER_RE, SHARE_RE, SITE_CODE_RE
from sitesrv.lab.layout import BUILDING_MARKER, HIERARCHY_COPY
from sitesrv.lab.sizes import MAX_LATENCY, MAX_PACKAGE_FILES, MAX_RATE, parse_size
from sitesrv.lab.timing import (
    DURATION_KEYS,
    FRACTION_KEYS,
    PROFILES,
    RATE_KEYS,
    REPEATING_KEYS,
    TIMING_KEYS,
    TimingProfile,
    parse_duration,
)


class HierarchyError(UserError):
    """A problem in hierarchy.yaml, phrased for the person who will fix it."""

    def __init__(self, file: Path | str, key: str, problem: str) -> None:
        self.file = str(file)
        self.key = key
        self.problem = problem
        where = f"{self.file}: {key}: " if key else f"{self.file}: "
        super().__init__(f"{where}{problem}. Fix {Path(self.file).name} and run the command again.")


TOP_KEYS = {"sites", "addresses", "software_distribution", "sender", "durability", "timing", "logs",
            "limits", "package_sources"}
SOURCE_KEYS = {"folder", "path"}
# What Windows refuses in a file or folder name (the path separators aside).
NAME_FORBIDDEN = ':*?"<>|'
UNC_SERVER_RE = re.compile(r'[^\\/ :*?"<>|\x00-\x1f]{1,15}')
SITE_KEYS = {"code", "name", "server", "type", "parent", "drive", "package_drive",
             "time_zone_bias", "distribution_points", "hotfixes"}
DP_KEYS = {"server", "share", "permissions"}
ADDRESS_KEYS = {"from", "to", "type", "priority", "schedule", "rate_limit", "latency", "jitter"}
BLOCK_KEYS = {"days", "hours", "availability"}
SWD_KEYS = {"send_from_nearest_site", "retries", "retry_delay", "dp_update_mode",
            "attribute_changes_count", "secondaries_keep_advertisements"}
SENDER_KEYS = {"max_concurrent", "max_per_site", "retries", "retry_delay"}
TIMING_SECTION_KEYS = {"profile", "clock_rate", *TIMING_KEYS}
LOGS_KEYS = {"max_size"}
LIMITS_KEYS = {"package_size", "package_files"}
HOURS_RE = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one mapping; PyYAML would silently keep the last value."""

    def __init__(self, key: Any, path: str, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__(problem=f"duplicate key {_shown(key)}", problem_mark=again)
        self.key = key
        self.path = path
        self.first = first
        self.again = again


class _Strict:
    """Mappings that refuse a key given twice (plain YAML keeps the last one)."""

    def get_single_node(self) -> yaml.Node | None:
        self.root_node = super().get_single_node()
        return self.root_node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` may override keys; that is what merge keys are for
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it below
            if first is not None:
                path = _node_path(getattr(self, "root_node", None), node) or ""
                raise _DuplicateKeyError(key, path, first, key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


class _StrictLoader(_Strict, yaml.SafeLoader):
    """PyYAML's own SafeLoader, strict: what says why a document does not load."""


# libyaml's parser, where PyYAML has it: about five times faster, which a hierarchy of a hundred
# sites feels at every command. A document it refuses is read again by _StrictLoader, so every
# message about a bad file is PyYAML's own.
_FastLoader: type | None = (type("_StrictCLoader", (_Strict, yaml.CSafeLoader), {})
                            if getattr(yaml, "__with_libyaml__", False) else None)


def _node_path(root: yaml.Node | None, target: yaml.Node) -> str | None:
    """The key path (`sites[0]`) of a node in the document, as error messages write keys."""
    stack: list[tuple[yaml.Node, str]] = [(root, "")] if root is not None else []
    visited: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if id(node) in visited:
            continue  # an alias seen before (possibly a recursive one)
        visited.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                name = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                stack.append((value_node, f"{path}.{name}" if path else name))
    return None


def _mark(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


class _Reader:
    """Walks the parsed YAML, remembering the file so every error can name it."""

    def __init__(self, file: Path | str) -> None:
        self.file = file

    def fail(self, key: str, problem: str) -> HierarchyError:
        return HierarchyError(self.file, key, problem)

    def mapping(self, value: Any, key: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping of keys, got {_kind(value)}")
        for field in value:
            if field not in allowed:
                hint = _closest(str(field), allowed)
                raise self.fail(
                    f"{key}.{field}" if key else str(field),
                    f"unknown key {_shown(field)}" + (f" (did you mean {_shown(hint)}?)" if hint else "")
                    + f"; allowed keys here are {', '.join(sorted(allowed))}",
                )
        return value

    def section(self, fields: Mapping[str, Any], field: str, default: Any) -> Any:
        """m[k], or `default` when the key is missing or empty (`k:` alone); never `x or {}`,
        which would let `timing: []` or `sender: 0` pass as if they were missing."""
        value = fields.get(field)
        return default if value is None else value

    def required(self, fields: Mapping[str, Any], key: str, field: str) -> Any:
        path = f"{key}.{field}" if key else field
        if field not in fields:
            raise self.fail(path, "this key is required")
        if fields[field] is None:
            raise self.fail(path, "this key is required and has no value")
        return fields[field]

    def string(self, value: Any, key: str) -> str:
        """Text as written: YAML reads some unquoted words as other things (`0123` as the number
        83, `OFF` as false), so those are refused with the advice to quote them."""
        if isinstance(value, bool | int | float):
            raise self.fail(key, f"expected text, got {_kind(value)}: YAML reads some unquoted "
                                 "values as numbers or true/false (a leading 0 as octal, ON "
                                 "and OFF as true and false), so write the text in quotes, "
                                 "e.g. \"0123\"")
        if not isinstance(value, str):
            raise self.fail(key, f"expected text, got {_kind(value)}")
        return value

    def integer(self, value: Any, key: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"expected a whole number of at least {minimum}, got "
                                 f"{_kind(value)}")
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {_kind(value)}")
        return value

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.fail(key, f"{_kind(value)} is not one of {', '.join(choices)}")
        return str(value)

    def duration(self, value: Any, key: str) -> float:
        try:
            return parse_duration(value)
        except ValueError as e:
            raise self.fail(key, str(e)) from None

    def sequence(self, value: Any, key: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, got {_kind(value)}")
        return value


def _kind(value: Any) -> str:
    """A value as the YAML file spells it, not as Python does (`true`, not `True`)."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _shown(value)


def _shown(value: Any) -> str:
    """A value quoted as the YAML file has it, so a Windows path reads as written (repr would
    double each backslash); a quote doubled as in YAML, an invisible character escaped."""
    if not isinstance(value, str):
        return repr(value)
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)
    return "'" + text.replace("'", "''") + "'"


def _closest(word: str, candidates: set[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def load_lab_hierarchy(root: Path | str) -> Hierarchy:
    """The hierarchy of the lab at `root` (its own copy of hierarchy.yaml).

    A UserError says how to make a lab if there is none, and how to finish one whose
    `sitesrv init` was stopped half way.
    """
    root = Path(root)
    if not (root / HIERARCHY_COPY).is_file():
        raise UserError(
            f"There is no lab at {root} (no {HIERARCHY_COPY} in it). Build one with "
            f"'sitesrv init --lab {root}', or pass --lab with the folder of an existing lab."
        )
    if (root / BUILDING_MARKER).exists():
        raise UserError(
            f"The lab at {root} is half built: the 'sitesrv init' that built it was stopped "
            f"before it finished. Run 'sitesrv init --lab {root}' again; it keeps what is "
            "there and builds the rest."
        )
    return load_hierarchy(root / HIERARCHY_COPY)


def load_hierarchy(path: Path | str) -> Hierarchy:
    """Read and validate a hierarchy file; raise HierarchyError (a UserError) on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        line = e.object[:e.start].count(b"\n") + 1
        raise HierarchyError(
            path, "", f"not UTF-8 text (byte 0x{e.object[e.start]:02x} on line {line}, at "
            f"offset {e.start}, cannot be decoded); save the file as UTF-8"
        ) from None
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such hierarchy file. Pass --hierarchy FILE, or run the command from a "
            "folder that has hierarchy.yaml (the repository ships a default one)."
        ) from None
    except OSError as e:
        raise UserError(f"{path}: cannot read the hierarchy file ({e.strerror}).") from None
    return parse_hierarchy(text, path)


def parse_hierarchy(text: str, file: Path | str = "hierarchy.yaml") -> Hierarchy:
    """Validate hierarchy YAML text; `file` is only used in error messages."""
    reader = _Reader(file)
    top = reader.mapping(_document(reader, text), "", TOP_KEYS)
    timing_profile, timing, clock_rate = _timing(reader, reader.section(top, "timing", {}))
    swd_raw = reader.mapping(reader.section(top, "software_distribution", {}),
                             "software_distribution", SWD_KEYS)
    sender_raw = reader.mapping(reader.section(top, "sender", {}), "sender", SENDER_KEYS)
    for raw, section, field in ((swd_raw, "software_distribution", "distmgr_retry_interval"),
                                (sender_raw, "sender", "sender_retry_delay")):
        if "retry_delay" in raw:
            key = f"{section}.retry_delay"
            if (delay := reader.duration(raw["retry_delay"], key)) == 0:
                raise _repeats_at_once(reader, key)
            timing = attrs.evolve(timing, **{field: delay})
    software_distribution = _software_distribution(reader, swd_raw)
    sender = _sender(reader, sender_raw)
    logs = reader.mapping(reader.section(top, "logs", {}), "logs", LOGS_KEYS)
    log_max_bytes = reader.integer(logs.get("max_size", 1024 * 1024), "logs.max_size", 1024)
    durability = Durability(reader.choice(top.get("durability", "none"), "durability",
                                          tuple(Durability)))
    limits = _limits(reader, reader.section(top, "limits", {}))
    sites = _sites(reader, top)
    addresses = _addresses(reader, reader.section(top, "addresses", []), {s.code for s in sites})
    package_sources = _package_sources(reader, reader.section(top, "package_sources", []))
    return Hierarchy(sites=sites, addresses=addresses,
                     software_distribution=software_distribution, sender=sender,
                     durability=durability, timing_profile=timing_profile, timing=timing,
                     clock_rate=clock_rate, log_max_bytes=log_max_bytes, limits=limits,
                     package_sources=package_sources, source=text)


def _document(reader: _Reader, text: str) -> Any:
    """The parsed YAML; every way it can fail to parse is a HierarchyError."""
    if _FastLoader is not None:
        try:
            return yaml.load(text, Loader=_FastLoader)  # a CSafeLoader subclass: safe
        except (yaml.YAMLError, RecursionError):
            pass  # said again below, in PyYAML's words
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: safe
    except _DuplicateKeyError as e:
        key = f"{e.path}.{e.key}" if e.path else str(e.key)
        raise reader.fail(key, f"the key {_shown(e.key)} is given twice in one mapping (at "
                          f"{_mark(e.first)} and at {_mark(e.again)}); remove one of "
                          "them") from None
    except RecursionError:
        raise reader.fail("", "not valid YAML: it is nested too deeply") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(e, "problem", None) or str(e)
        raise reader.fail("", f"not valid YAML at {where}: {problem}") from None


def _package_sources(reader: _Reader, raw: Any) -> tuple[SourceMapping, ...]:
    """`package_sources:`: local folders and the Windows paths the site servers read them by."""
    out = []
    for i, item in enumerate(reader.sequence(raw, "package_sources")):
        key = f"package_sources[{i}]"
        fields = reader.mapping(item, key, SOURCE_KEYS)
        folder = reader.string(reader.required(fields, key, "folder"), f"{key}.folder")
        path = reader.string(reader.required(fields, key, "path"), f"{key}.path")
        if not folder.strip():
            raise reader.fail(f"{key}.folder", "expected a folder, got an empty text")
        problem = source_path_problem(path)
        if problem:
            raise reader.fail(f"{key}.path", f"{_shown(path)} is not a Windows path to a folder: "
                              f"{problem}")
        out.append(SourceMapping(folder=folder, path=path.rstrip("\\") if len(path) > 3 else path))
    return tuple(out)


def source_path_problem(path: str) -> str | None:
    """Why `path` is not a drive path (C:\\...) or share (\\\\SERVER\\SHARE\\...) to a folder,
    or None when it is one: each part a plain name, at most one backslash at the end."""
    example = "write a drive path such as C:\\packages or a share such as \\\\MGMT01\\Packages"
    if "/" in path:
        return f"it has a '/', and Windows separates the parts of a path with '\\'; {example}"
    if path.startswith("\\\\"):
        server, _, rest = path[2:].partition("\\")
        if server in (".", "..") or not UNC_SERVER_RE.fullmatch(server):
            return (f"{_shown(server)} is not a server name (1 to 15 characters, none of them a "
                    f"space, a control character or {NAME_FORBIDDEN}); {example}")
        parts = rest.split("\\")
        if parts[-1] == "":
            parts.pop()
        if not parts:
            return f"it names a server but no share; {example}"
    elif re.match(r"[A-Za-z]:", path):
        if path[2:3] != "\\":
            return f"the drive {path[:2]} must be followed by '\\' ({path[:2]}\\...)"
        parts = path[3:].split("\\")
        if parts[-1] == "":
            parts.pop()
    else:
        return f"it starts with neither a drive letter nor \\\\SERVER\\SHARE; {example}"
    for part in parts:
        if part in (".", ".."):
            return f"it has a '{part}' part; name the folder without '.' or '..' parts"
        if not part:
            return "it has an empty part (two '\\' in a row)"
        bad = sorted(foreign_characters(part))  # files/names.py: the one rule for names
        if bad:
            shown = " ".join(c if c in NAME_FORBIDDEN else escaped_name(c) for c in bad)
            return (f"its part {_shown(part)} has {shown}, which Windows does not allow in a "
                    f"name (none of {NAME_FORBIDDEN}, nor a control character)")
    return None


def _software_distribution(reader: _Reader, raw: Mapping[str, Any]) -> SoftwareDistribution:
    key = "software_distribution"
    return SoftwareDistribution(
        send_from_nearest_site=reader.boolean(raw.get("send_from_nearest_site", True),
                                              f"{key}.send_from_nearest_site"),
        retries=reader.integer(raw.get("retries", 100), f"{key}.retries"),
        dp_update_mode=reader.choice(raw.get("dp_update_mode", "delete"),
                                     f"{key}.dp_update_mode", DP_UPDATE_MODES),
        attribute_changes_count=reader.boolean(raw.get("attribute_changes_count", False),
                                               f"{key}.attribute_changes_count"),
        secondaries_keep_advertisements=reader.boolean(
            raw.get("secondaries_keep_advertisements", False),
            f"{key}.secondaries_keep_advertisements"),
    )


def _sender(reader: _Reader, raw: Mapping[str, Any]) -> SenderSettings:
    sender = SenderSettings(
        max_concurrent=reader.integer(raw.get("max_concurrent", 5), "sender.max_concurrent", 1),
        max_per_site=reader.integer(raw.get("max_per_site", 3), "sender.max_per_site", 1),
        retries=reader.integer(raw.get("retries", 2), "sender.retries"),
    )
    if sender.max_concurrent > 999 or sender.max_per_site > 999:
        raise reader.fail("sender", "SMS allows at most 999 concurrent sendings")
    return sender


def _limits(reader: _Reader, raw: Any) -> PackageLimits:
    fields = reader.mapping(raw, "limits", LIMITS_KEYS)
    default = DEFAULT_PACKAGE_LIMITS
    try:
        size = parse_size(fields.get("package_size", default.package_size))
    except ValueError as e:
        raise reader.fail("limits.package_size", str(e)) from None
    if size < 1:
        raise reader.fail("limits.package_size", f"expected at least 1 byte, got {size}")
    files = reader.integer(fields.get("package_files", default.package_files),
                           "limits.package_files", 1)
    if files > MAX_PACKAGE_FILES:
        raise reader.fail("limits.package_files", f"{files} is more than a PCK may list: at most "
                          f"{MAX_PACKAGE_FILES} (docs/limits.md)")
    return PackageLimits(package_size=size, package_files=files)


def _timing(reader: _Reader, raw: Any) -> tuple[str, TimingProfile, float]:
    fields = reader.mapping(raw, "timing", TIMING_SECTION_KEYS)
    name = reader.choice(fields.get("profile", "lab"), "timing.profile", tuple(PROFILES))
    profile = PROFILES[name]
    overrides: dict[str, float] = {
        field: reader.duration(fields[field], f"timing.{field}")
        for field in DURATION_KEYS if field in fields}
    for field in REPEATING_KEYS:
        if overrides.get(field) == 0:
            raise _repeats_at_once(reader, f"timing.{field}")
    for field in RATE_KEYS:
        if field in fields:
            overrides[field] = _rate(reader, fields[field], f"timing.{field}")
    for field in FRACTION_KEYS:
        if field in fields:
            overrides[field] = _fraction(reader, fields[field], f"timing.{field}",
                                         "each work cost varies by up to 20 %")
    rate = fields.get("clock_rate", 1)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
        raise reader.fail("timing.clock_rate", f"expected a positive number, got {_kind(rate)}")
    return name, attrs.evolve(profile, **overrides), float(rate)


def _sites(reader: _Reader, top: Mapping[str, Any]) -> tuple[Site, ...]:
    raw_sites = reader.sequence(reader.required(top, "", "sites"), "sites")
    if not raw_sites:
        raise reader.fail("sites", "a lab needs at least one site")
    sites: list[Site] = []
    for i, raw in enumerate(raw_sites):
        key = f"sites[{i}]"
        written = raw.get("code") if isinstance(raw, Mapping) else None
        if isinstance(written, str) and SITE_CODE_RE.fullmatch(written):
            key = f"sites[{i}] ({written})"  # named as soon as its code can be read
        fields = reader.mapping(raw, key, SITE_KEYS)
        code = reader.string(reader.required(fields, key, "code"), f"{key}.code")
        if not SITE_CODE_RE.fullmatch(code):
            raise reader.fail(f"{key}.code", f"{_shown(code)} is not a site code: it must be exactly 3 "
                              "upper-case letters or digits, e.g. P01")
        server = _server_name(reader, reader.required(fields, key, "server"), f"{key}.server")
        site_type = reader.choice(fields.get("type", "primary"), f"{key}.type",
                                  ("primary", "secondary"))
        parent = fields.get("parent")
        if parent is not None:
            parent = reader.string(parent, f"{key}.parent")
        drive = _drive(reader, fields.get("drive", "C"), f"{key}.drive")
        package_drive = _drive(reader, fields.get("package_drive", drive), f"{key}.package_drive")
        bias = fields.get("time_zone_bias", 0)
        if isinstance(bias, bool) or not isinstance(bias, int) or not -840 <= bias <= 840:
            raise reader.fail(f"{key}.time_zone_bias", "expected minutes between -840 and 840 "
                              f"(local time + bias = UTC, e.g. 300 for US Eastern), got {_kind(bias)}")
        raw_dps = reader.sequence(reader.section(fields, "distribution_points", []),
                                  f"{key}.distribution_points")
        dps = tuple(_dp(reader, d, f"{key}.distribution_points[{j}]")
                    for j, d in enumerate(raw_dps))
        servers = [dp.server.upper() for dp in dps]
        if len(set(servers)) != len(servers):
            raise reader.fail(f"{key}.distribution_points", "a server is listed twice")
        hotfixes = reader.sequence(reader.section(fields, "hotfixes", []), f"{key}.hotfixes")
        for h in hotfixes:
            if h not in KNOWN_HOTFIXES:
                raise reader.fail(f"{key}.hotfixes", f"unknown hotfix {_shown(h)}; known: "
                                  + ", ".join(KNOWN_HOTFIXES))
        sites.append(Site(
            code=code,
            name=reader.string(fields.get("name", f"Site {code}"), f"{key}.name"),
            server=server,
            type=site_type,
            parent=parent,
            drive=drive,
            package_drive=package_drive,
            time_zone_bias=bias,
            distribution_points=dps,
            hotfixes=frozenset(hotfixes),
        ))
    _check_tree(reader, sites)
    return tuple(sites)


def _drive(reader: _Reader, value: Any, key: str) -> str:
    text = reader.string(value, key).rstrip(":").upper()
    if not re.fullmatch(r"[C-Z]", text):
        raise reader.fail(key, f"{_shown(value)} is not a drive letter (C to Z)")
    return text


def _server_name(reader: _Reader, value: Any, key: str) -> str:
    """A NetBIOS server name (a site server's or a DP's), upper-cased."""
    server = reader.string(value, key)
    if not SERVER_RE.fullmatch(server):
        raise reader.fail(key, f"{_shown(server)} is not a server name: at most 15 characters, none of "
                          '" / \\ [ ] ; : | = + * ? , < > or spaces, and not dots alone')
    return server.upper()


def _dp(reader: _Reader, raw: Any, key: str) -> DistributionPoint:
    fields = reader.mapping(raw, key, DP_KEYS)
    server = _server_name(reader, reader.required(fields, key, "server"), f"{key}.server")
    share = reader.string(fields.get("share", DEFAULT_SHARE), f"{key}.share")
    parts = [p for p in share.split("\\") if p]
    if not SHARE_RE.fullmatch(share) or not parts or any(p in (".", "..") for p in parts):
        raise reader.fail(f"{key}.share", f"{_shown(share)} is not a share name (e.g. SMSPKGC$, or "
                          "smsapps\\SMSPKG for a folder inside a share)")
    permissions = reader.choice(fields.get("permissions", SharePermissions.FULL),
                                f"{key}.permissions", tuple(SharePermissions))
    return DistributionPoint(server=server, share="\\".join(parts),
                             permissions=SharePermissions(permissions))


def _check_tree(reader: _Reader, sites: list[Site]) -> None:
    codes: dict[str, int] = {}
    servers: dict[str, str] = {}
    for i, s in enumerate(sites):
        if s.code in codes:
            raise reader.fail(f"sites[{i}].code", f"site code {s.code} is used twice "
                              f"(also sites[{codes[s.code]}])")
        codes[s.code] = i
        if s.server in servers:
            raise reader.fail(f"sites[{i}] ({s.code}).server", f"server {s.server} already belongs "
                              f"to site {servers[s.server]}; each site needs its own site server")
        servers[s.server] = s.code
    by_code = {s.code: s for s in sites}
    for i, s in enumerate(sites):
        key = f"sites[{i}] ({s.code}).parent"
        if s.parent is None:
            continue
        if s.parent not in by_code:
            raise reader.fail(key, f"unknown site {_shown(s.parent)}; the parent must be another site in "
                              f"this file ({', '.join(by_code)})")
        parent = by_code[s.parent]
        if s.type == "secondary" and not parent.is_primary:
            raise reader.fail(key, f"secondary site {s.code} has parent {parent.code}, which is a "
                              "secondary site; a secondary's parent must be a primary site")
        if not parent.is_primary:
            raise reader.fail(key, f"site {parent.code} is a secondary site and cannot have child "
                              f"sites, but {s.code} names it as parent")
    for i, s in enumerate(sites):
        chain = [s.code]  # in order: the site, its parent, its grandparent, ...
        cur = s
        while cur.parent is not None:
            if cur.parent in chain:
                raise reader.fail(f"sites[{i}] ({s.code}).parent", "the parents form a cycle: "
                                  + " -> ".join([*chain, cur.parent]))
            chain.append(cur.parent)
            cur = by_code[cur.parent]
    roots = [s.code for s in sites if s.parent is None]
    if len(roots) > 1:
        raise reader.fail("sites", f"more than one site has no parent ({', '.join(roots)}); "
                          "only the central site may have none")
    root = by_code[roots[0]]
    if not root.is_primary:
        raise reader.fail(f"sites[{codes[root.code]}] ({root.code}).type",
                          "the central site (the one without a parent) must be a primary site")


def _addresses(reader: _Reader, raw: Any, codes: set[str]) -> tuple[Address, ...]:
    out: list[Address] = []
    seen: set[tuple[str, str, int]] = set()
    for i, a in enumerate(reader.sequence(raw, "addresses")):
        key = f"addresses[{i}]"
        fields = reader.mapping(a, key, ADDRESS_KEYS)
        ends = []
        for end in ("from", "to"):
            code = reader.string(reader.required(fields, key, end), f"{key}.{end}")
            if code not in codes:
                raise reader.fail(f"{key}.{end}", f"unknown site {_shown(code)}; addresses connect sites "
                                  f"of this file ({', '.join(sorted(codes))})")
            ends.append(code)
        if ends[0] == ends[1]:
            raise reader.fail(key, f"an address from site {ends[0]} to itself makes no sense")
        kind = reader.choice(fields.get("type", "LAN"), f"{key}.type", ("LAN", "COURIER"))
        priority = reader.integer(fields.get("priority", 1), f"{key}.priority", 1)
        if (ends[0], ends[1], priority) in seen:
            raise reader.fail(f"{key}.priority", f"another address from {ends[0]} to {ends[1]} has "
                              f"relative priority {priority}; priority numbers cannot be shared")
        seen.add((ends[0], ends[1], priority))
        rate = fields.get("rate_limit", "unlimited")
        if rate == "unlimited":
            rate_limit = None
        elif isinstance(rate, bool) or not isinstance(rate, int) or not 0 < rate <= MAX_RATE:
            raise reader.fail(f"{key}.rate_limit", "expected a positive number of bytes per "
                              f"second up to {MAX_RATE} (a terabyte), or 'unlimited', got "
                              f"{_shown(rate)}")
        else:
            rate_limit = rate
        latency = reader.duration(fields.get("latency", 0), f"{key}.latency")
        if latency > MAX_LATENCY:
            raise reader.fail(f"{key}.latency", f"expected at most {MAX_LATENCY:g} seconds (a "
                              f"day) before a send's first byte, got {latency:g}")
        out.append(Address(
            from_site=ends[0],
            to_site=ends[1],
            type=kind,
            priority=priority,
            schedule=tuple(_block(reader, b, f"{key}.schedule[{j}]") for j, b in
                           enumerate(reader.sequence(reader.section(fields, "schedule", []),
                                                     f"{key}.schedule"))),
            rate_limit=rate_limit,
            latency=latency,
            jitter=_jitter(reader, fields.get("jitter", 0), f"{key}.jitter"),
        ))
    return tuple(out)


def _jitter(reader: _Reader, value: Any, key: str) -> float:
    return _fraction(reader, value, key, "each transfer's latency and rate vary by up to 20 %")


def _repeats_at_once(reader: _Reader, key: str) -> HierarchyError:
    return reader.fail(key, "must be more than 0: it is a delay that repeats (a poll, an idle "
                            "pass or a retry), and at 0 lab time would never move on")


def _fraction(reader: _Reader, value: Any, key: str, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 0.9:
        raise reader.fail(key, f"expected a fraction from 0 to 0.9 (0.2: {example}), got "
                               f"{_shown(value)}")
    return float(value)


def _rate(reader: _Reader, value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_RATE:
        raise reader.fail(key, f"expected a positive number of bytes per second up to "
                               f"{MAX_RATE} (a terabyte), got {_kind(value)}")
    return float(value)


def _block(reader: _Reader, raw: Any, key: str) -> ScheduleBlock:
    fields = reader.mapping(raw, key, BLOCK_KEYS)
    days_raw = fields.get("days", "all")
    if days_raw == "all":
        days = frozenset(range(7))
    else:
        names = reader.sequence(days_raw, f"{key}.days")
        found = [_weekday(d) for d in names]
        if None in found or not names:
            raise reader.fail(f"{key}.days", f"expected 'all' or a list of days from "
                              f"{', '.join(DAY_NAMES)} (or monday ... sunday), got {_shown(days_raw)}")
        days = frozenset(d for d in found if d is not None)
    hours = reader.string(fields.get("hours", "00:00-24:00"), f"{key}.hours")
    hm = HOURS_RE.fullmatch(hours)
    if not hm:
        raise reader.fail(f"{key}.hours", f"expected HH:MM-HH:MM, e.g. 08:00-18:00, got {_shown(hours)}")
    h1, m1, h2, m2 = (int(x) for x in hm.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 >= 60 or m2 >= 60 or start >= end or end > 24 * 60:
        raise reader.fail(f"{key}.hours", f"{_shown(hours)} is not a span within one day (start before "
                          "end, at most 24:00)")
    availability = reader.choice(reader.required(fields, key, "availability"), f"{key}.availability",
                                 AVAILABILITIES)
    return ScheduleBlock(days=days, start=start, end=end, availability=availability)


def _weekday(name: Any) -> int | None:
    """0 for mon or monday (any case) ... 6 for sun or sunday; None for anything else."""
    if not isinstance(name, str):
        return None
    name = name.lower()
    for names in (DAY_NAMES, FULL_DAY_NAMES):
        if name in names:
            return names.index(name)
    return None
