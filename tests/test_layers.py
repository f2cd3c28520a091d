"""The layers of sitesrv, enforced on every import in `sitesrv/` (docs/architecture.md).

Each package may import its own layer and the layers below it, never one above:

    cli, pytest_plugin, sitesrv/__init__   the front doors (and testing, the helpers for
                                           tests against a lab)
    admin                                  the Lab facade, the console's actions and views
    components                             SMS's site server components
    runtime                                the component contract, the hand-off, the drivers
    logs                                   SMS logs, events, status messages
    formats, compression, db               instruction files, PCK/DLT, the site database
    lab                                    the hierarchy, layout, inbox names, ID rules, time
    files                                  atomic replacement, copies, read-only files
    errors

Components also never import a driver: they run under both, unaware of which. Imports inside
functions and under TYPE_CHECKING count too: a late import is still a dependency. And no two
modules import each other, through any chain, when the program runs (an annotation under
TYPE_CHECKING may name a type of a module that imports this one).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

SOURCE = REPO / "sitesrv"
LAYERS = (
    ("sitesrv.errors",),
    ("sitesrv.files",),
    ("sitesrv.lab",),
    ("sitesrv.formats", "sitesrv.compression", "sitesrv.db"),
    ("sitesrv.logs",),
    ("sitesrv.runtime",),
    ("sitesrv.components",),
    ("sitesrv.admin",),
    ("sitesrv.cli", "sitesrv.pytest_plugin", "sitesrv.testing", "sitesrv"),
)
DRIVERS = tuple(f"sitesrv.runtime.{name}" for name in
                ("host", "step", "agenda", "live", "siteprocs", "watcher", "lock", "schedule"))


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, *, type_checking: bool = True) -> list[tuple[int, str]]:
    """Every sitesrv module `path` imports (`from a import b` counts as a.b if that is one);
    without `type_checking`, not those under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = set() if type_checking else {
        id(child) for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for stmt in node.body for child in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "." * node.level + (node.module or "")))
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append((node.lineno, sub if _exists(sub) else node.module))
    return [(line, name) for line, name in found
            if name.split(".")[0] == "sitesrv" or name.startswith(".")]


def _exists(module: str) -> bool:
    path = REPO.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def layer(module: str) -> int:
    """The index of the module's layer: the longest package prefix that names one (`sitesrv`,
    the package's own `__init__`, only itself: a new package must be given its layer)."""
    best, depth = -1, -1
    for index, packages in enumerate(LAYERS):
        for package in packages:
            covers = module == package or (package != "sitesrv"
                                           and module.startswith(package + "."))
            if covers and package.count(".") > depth:
                best, depth = index, package.count(".")
    assert best >= 0, f"{module} is in no layer; add its package to LAYERS"
    return best


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SOURCE.rglob("*.py"))}


def violations() -> list[str]:
    found = []
    for name, path in modules().items():
        where = path.relative_to(REPO).as_posix()
        for line, imported in imports(path):
            if imported.startswith("."):
                found.append(f"{where}:{line}: a relative import ({imported}); sitesrv spells "
                             "every import out, so that this test can see it")
                continue
            if layer(imported) > layer(name):
                found.append(f"{where}:{line}: {name} imports {imported}, a layer above it")
            if name.startswith("sitesrv.components") and imported.startswith(DRIVERS):
                found.append(f"{where}:{line}: a component imports the driver {imported}")
    return found


def test_every_import_goes_down_the_layers() -> None:
    found = violations()
    assert not found, "layers broken (docs/architecture.md):\n" + "\n".join(found)


def test_no_modules_import_each_other() -> None:
    graph = {name: {imported for _, imported in imports(path, type_checking=False)}
             for name, path in modules().items()}
    cycles = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph.get(name, ())):
            if state.get(other) == 1:
                cycles.append(" -> ".join([*path[path.index(other):], other]))
            elif other in graph and other not in state:
                visit(other, [*path, other])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


# --- the checker itself ----------------------------------------------------------------------

@pytest.mark.parametrize(("module", "expected"), [
    ("sitesrv.errors", 0), ("sitesrv.files.atomic", 1), ("sitesrv.lab.layout", 2),
    ("sitesrv.db.sitedb", 3), ("sitesrv.logs.statmsg", 4), ("sitesrv.runtime.host", 5),
    ("sitesrv.components.distmgr.pkgsend", 6), ("sitesrv.admin.lab", 7), ("sitesrv.cli.main", 8),
    ("sitesrv.testing", 8), ("sitesrv", 8),
])
def test_each_module_has_its_layer(module: str, expected: int) -> None:
    assert layer(module) == expected


def test_the_checker_sees_late_and_type_checking_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from sitesrv.runtime.host import LabRuntime\n"
                      "def f():\n    import sitesrv.cli.main\n    from sitesrv.lab import boxes\n")
    assert imports(source) == [(3, "sitesrv.runtime.host"), (5, "sitesrv.cli.main"),
                               (6, "sitesrv.lab.boxes")]
    assert imports(source, type_checking=False) == [(5, "sitesrv.cli.main"),
                                                    (6, "sitesrv.lab.boxes")]


def test_a_new_package_must_be_given_its_layer_and_relative_imports_are_seen(
        tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="in no layer"):
        layer("sitesrv.newthing.x")
    source = tmp_path / "m.py"
    source.write_text("from . import sibling\nfrom ..lab import boxes\n")
    assert imports(source) == [(1, "."), (2, "..lab")]
