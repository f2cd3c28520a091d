"""The component rules of docs/runtime.md, enforced on the source of `sitesrv/components/`.

Components run under both drivers and must be deterministic in step mode, so they never:
- import `time`, `random` or `uuid` (the context has the clock, `rng` and `ids`);
- ask `datetime.now()`, `datetime.utcnow()`, `datetime.today()` or `date.today()`;
- list a folder in the file system's order: `.iterdir()`, `.glob()`, `.rglob()`, `glob.iglob()`,
  `os.listdir()`, `os.scandir()` and `os.walk()` must be the direct argument of `sorted(...)`,
  or the iterable of a comprehension that is (`sorted(p.name for p in folder.glob("*"))`).

Every file change goes through the context (`ctx.publish`, `publish_file`, `rename`, `replace`,
`remove`, `make_dirs`, `set_mtime`, `create_empty`, `write_range`) or a claimed `WorkItem`, so
it has its journal entry, its fault points and its fsyncs: components never call `os` or
`shutil` to change files, nor a path's `unlink`, `rename`, `replace`, `rmdir`, `mkdir`, `touch`,
`chmod`, `write_bytes` or `write_text`, nor the primitives of `sitesrv.files`, nor `open()` for
writing, `os.open`, `shutil` or `tempfile`. Two kinds of calls change files of their own, each
as the lab's durability says: the compression pipeline (`pack`, `make_delta`, `merge`,
`install`, `recover_installs`), which publishes through temp names; and the package store
(`ctx.store`), whose state files at a secondary site are the site's data, as the database is.

And the runtime opens the site database and hands it over (`ctx.database`, `ctx.store`,
`ctx.status`), so components never open one (`sqlite3`, `SiteDatabase.open`, `open_store`).

The checker reads the modules' syntax trees; a failure names every offending file and line.
"""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO

COMPONENTS = REPO / "sitesrv" / "components"
FORBIDDEN_MODULES = {"time": "ctx.clock", "random": "ctx.rng or ctx.ids", "uuid": "ctx.ids"}
CLOCK_CALLS = {"now", "utcnow", "today"}
LISTING_METHODS = {"iterdir", "glob", "rglob", "iglob"}  # on paths, and the glob module
OS_LISTINGS = {"listdir", "scandir", "walk"}
COMPREHENSIONS = (ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)
OS_CHANGES = {"replace", "rename", "renames", "remove", "unlink", "rmdir", "removedirs", "mkdir",
              "makedirs", "utime", "chmod", "lchmod", "chown", "lchown", "link", "symlink",
              "truncate", "mkfifo", "mknod", "write"}
PATH_CHANGES = {"unlink", "rename", "replace", "rmdir", "mkdir", "touch", "chmod", "write_bytes",
                "write_text", "symlink_to", "hardlink_to"}
FILE_PRIMITIVES = {"replace_file", "rename_into_place", "write_temp", "sync_dirs", "remove_file",
                   "remove_tree", "make_readonly", "make_writable", "clear_readonly",
                   "published_readonly", "copy_range"}
DATABASE_OPENERS = {"open_store", "open_site_database"}
# Modules whose very import means a file change or a database of the component's own.
CHANGING_MODULES = {"shutil": "change files through ctx", "tempfile": "change files through ctx",
                    "sqlite3": "use ctx.database"}


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.problems: list[tuple[int, str]] = []
        self.parents: dict[ast.AST, ast.AST] = {}
        self.os_names: set[str] = set()  # names bound to the os module
        self.io_names: set[str] = set()  # names bound to the io module
        self.shutil_names: set[str] = set()  # names bound to the shutil module
        self.os_functions: dict[str, str] = {}  # name -> os function (`from os import listdir`)
        self.clock_classes: set[str] = set()  # names bound to datetime.datetime / datetime.date
        self.datetime_modules: set[str] = set()  # names bound to the datetime module

    def check(self, tree: ast.AST) -> list[tuple[int, str]]:
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent
        self.visit(tree)
        return sorted(self.problems)

    # --- imports --------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            top = alias.name.split(".")[0]
            bound = alias.asname or top
            if top in FORBIDDEN_MODULES:
                self._problem(node, f"import {alias.name} (use {FORBIDDEN_MODULES[top]})")
            elif top in CHANGING_MODULES:
                self._problem(node, f"import {alias.name} ({CHANGING_MODULES[top]})")
                if top == "shutil":
                    self.shutil_names.add(bound)
            elif top == "os":
                self.os_names.add(bound)  # `import os.path` binds os too
            elif top == "io":
                self.io_names.add(bound)
            elif alias.name == "datetime":
                self.datetime_modules.add(bound)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = (node.module or "").split(".")[0]
        if node.level == 0 and module in FORBIDDEN_MODULES:
            self._problem(node, f"from {node.module} import ... (use {FORBIDDEN_MODULES[module]})")
        elif node.level == 0 and module in CHANGING_MODULES:
            self._problem(node, f"from {node.module} import ... ({CHANGING_MODULES[module]})")
        for alias in node.names:
            if node.module in ("os", "io") and alias.name in (*OS_CHANGES, "open"):
                self._problem(node, f"from {node.module} import {alias.name} (change files "
                                    "through ctx)")
            bound = alias.asname or alias.name
            if node.module == "os" and alias.name in OS_LISTINGS:
                self.os_functions[bound] = alias.name
            elif node.module == "datetime" and alias.name in ("datetime", "date"):
                self.clock_classes.add(bound)

    # --- calls ----------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        self._file_change(node)
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr in CLOCK_CALLS and self._is_clock_class(func.value):
                self._problem(node, f"{ast.unparse(func)}() (use ctx.clock.now())")
            listing = (func.attr in LISTING_METHODS
                       or (func.attr in OS_LISTINGS and isinstance(func.value, ast.Name)
                           and func.value.id in self.os_names))
            if listing and not self._sorted(node):
                self._problem(node, f"{ast.unparse(func)}() outside sorted(...): the file "
                                    "system's order differs between machines")
        elif isinstance(func, ast.Name) and func.id in self.os_functions and not self._sorted(node):
            self._problem(node, f"{func.id}() (os.{self.os_functions[func.id]}) outside "
                                "sorted(...): the file system's order differs between machines")
        self.generic_visit(node)

    def _file_change(self, node: ast.Call) -> None:
        """A call that changes a file or opens a database behind the context's back."""
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = func.value if isinstance(func, ast.Attribute) else None
        module = owner.id if isinstance(owner, ast.Name) else None
        shown = ast.unparse(func)
        if owner is not None and _is_context(owner):
            return
        if name in DATABASE_OPENERS or (name in ("open", "create") and owner is not None
                                        and shown.split(".")[-2] == "SiteDatabase"):
            self._problem(node, f"{shown}() (use ctx.database, ctx.store or ctx.status)")
            return
        if module in self.os_names and name in (*OS_CHANGES, "open"):
            changes = True
        elif name == "open":  # open(path, mode), io.open(path, mode), path.open(mode)
            by_path = owner is not None and module not in self.io_names
            changes = _writes(node, mode_at=0 if by_path else 1)
        elif module in self.shutil_names or name in FILE_PRIMITIVES:
            changes = True
        elif name in PATH_CHANGES and owner is not None:
            # str.replace(old, new) has two arguments; Path.replace(target) has one.
            changes = not (name == "replace" and len(node.args) + len(node.keywords) != 1)
        else:
            changes = False
        if changes:
            what = "open() for writing" if name == "open" else f"{shown}()"
            self._problem(node, f"{what} (change files through ctx)")

    def _is_clock_class(self, value: ast.expr) -> bool:
        if isinstance(value, ast.Name):
            return value.id in self.clock_classes
        return (isinstance(value, ast.Attribute) and value.attr in ("datetime", "date")
                and isinstance(value.value, ast.Name) and value.value.id in self.datetime_modules)

    def _sorted(self, call: ast.Call) -> bool:
        """Whether the listing is sorted: a direct argument of sorted(), or the iterable of a
        comprehension that is."""
        parent = self.parents.get(call)
        if isinstance(parent, ast.comprehension) and parent.iter is call:
            comprehension = self.parents.get(parent)
            if not isinstance(comprehension, COMPREHENSIONS):
                return False
            call, parent = comprehension, self.parents.get(comprehension)  # type: ignore[assignment]
        return (isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name)
                and parent.func.id == "sorted" and call in parent.args)

    def _problem(self, node: ast.AST, text: str) -> None:
        self.problems.append((getattr(node, "lineno", 0), text))


def _is_context(value: ast.expr) -> bool:
    """`ctx`, `self.ctx`, `r.ctx`: the component's context, whose methods are the way."""
    return (isinstance(value, ast.Name) and value.id == "ctx") or (
        isinstance(value, ast.Attribute) and value.attr == "ctx")


def _writes(call: ast.Call, mode_at: int = 1) -> bool:
    """Whether an `open(...)` call opens for writing (a constant mode with w, a, x or +); the
    mode is the argument at `mode_at` (0 for `path.open(mode)`) or the keyword `mode`."""
    mode = call.args[mode_at] if len(call.args) > mode_at else next(
        (k.value for k in call.keywords if k.arg == "mode"), None)
    if mode is None:
        return False
    if not isinstance(mode, ast.Constant) or not isinstance(mode.value, str):
        return True  # a mode the checker cannot read is taken as writing
    return any(c in mode.value for c in "wax+")


def violations(source: str) -> list[tuple[int, str]]:
    return _Checker().check(ast.parse(source))


def test_component_modules_follow_the_rules() -> None:
    modules = sorted(COMPONENTS.rglob("*.py"))
    assert modules, f"no component modules in {COMPONENTS}"
    found = [f"{path.relative_to(REPO).as_posix()}:{line}: {text}"
             for path in modules
             for line, text in violations(path.read_text(encoding="utf-8"))]
    assert not found, "component rules broken (docs/runtime.md):\n" + "\n".join(found)


# --- the checker itself ----------------------------------------------------------------------

@pytest.mark.parametrize(("source", "expected"), [
    ("import time\nimport random as r\nimport uuid", [
        (1, "import time (use ctx.clock)"), (2, "import random (use ctx.rng or ctx.ids)"),
        (3, "import uuid (use ctx.ids)")]),
    ("from time import monotonic", [(1, "from time import ... (use ctx.clock)")]),
    ("from random import choice", [(1, "from random import ... (use ctx.rng or ctx.ids)")]),
    ("from uuid import uuid4", [(1, "from uuid import ... (use ctx.ids)")]),
    ("from datetime import datetime as dt, date\na = dt.now()\nb = date.today()\n"
     "c = dt.utcnow()", [(2, "dt.now() (use ctx.clock.now())"),
                         (3, "date.today() (use ctx.clock.now())"),
                         (4, "dt.utcnow() (use ctx.clock.now())")]),
    ("import datetime\nx = datetime.datetime.now()\ny = datetime.date.today()", [
        (2, "datetime.datetime.now() (use ctx.clock.now())"),
        (3, "datetime.date.today() (use ctx.clock.now())")]),
    ("import os\nfor n in os.listdir(p):\n    pass", [
        (2, "os.listdir() outside sorted(...): the file system's order differs between "
            "machines")]),
    ("from os import scandir\nit = scandir(p)", [
        (2, "scandir() (os.scandir) outside sorted(...): the file system's order differs "
            "between machines")]),
    ("first = next(folder.glob('*.PKG'))\nnames = [p.name for p in folder.iterdir()]\n"
     "s = sorted(list(folder.rglob('*')))", [
        (1, "folder.glob() outside sorted(...): the file system's order differs between "
            "machines"),
        (2, "folder.iterdir() outside sorted(...): the file system's order differs between "
            "machines"),
        (3, "folder.rglob() outside sorted(...): the file system's order differs between "
            "machines")]),
])
def test_the_checker_finds_what_breaks_the_rules(source: str,
                                                 expected: list[tuple[int, str]]) -> None:
    assert violations(source) == expected


@pytest.mark.parametrize(("source", "expected"), [
    ("import os\nos.replace(a, b)\nos.unlink(a)\nos.utime(p, (1, 1))", [
        (2, "os.replace() (change files through ctx)"),
        (3, "os.unlink() (change files through ctx)"),
        (4, "os.utime() (change files through ctx)")]),
    ("import shutil\nshutil.rmtree(p)", [(1, "import shutil (change files through ctx)"),
                                          (2, "shutil.rmtree() (change files through ctx)")]),
    ("p.unlink(missing_ok=True)\nfolder.mkdir(exist_ok=True)\np.replace(q)\n"
     "p.write_bytes(b'')", [
        (1, "p.unlink() (change files through ctx)"),
        (2, "folder.mkdir() (change files through ctx)"),
        (3, "p.replace() (change files through ctx)"),
        (4, "p.write_bytes() (change files through ctx)")]),
    ("replace_file(p, b'', d, tmp=t)\nremove_tree(p)\nreadonly.make_writable(p)", [
        (1, "replace_file() (change files through ctx)"),
        (2, "remove_tree() (change files through ctx)"),
        (3, "readonly.make_writable() (change files through ctx)")]),
    ("f = open(p, 'wb')\ng = open(p, mode='r+b')\nh = open(p, m)", [
        (1, "open() for writing (change files through ctx)"),
        (2, "open() for writing (change files through ctx)"),
        (3, "open() for writing (change files through ctx)")]),
    ("import sqlite3\ndb = SiteDatabase.open(p)\ns = open_store(l, db, d)", [
        (1, "import sqlite3 (use ctx.database)"),
        (2, "SiteDatabase.open() (use ctx.database, ctx.store or ctx.status)"),
        (3, "open_store() (use ctx.database, ctx.store or ctx.status)")]),
    ("from os import replace, unlink\nfrom shutil import rmtree\nimport shutil as sh\n"
     "from sqlite3 import connect\nimport tempfile\nsh.move(a, b)", [
        (1, "from os import replace (change files through ctx)"),
        (1, "from os import unlink (change files through ctx)"),
        (2, "from shutil import ... (change files through ctx)"),
        (3, "import shutil (change files through ctx)"),
        (4, "from sqlite3 import ... (use ctx.database)"),
        (5, "import tempfile (change files through ctx)"),
        (6, "sh.move() (change files through ctx)")]),
    ("import os.path\nimport io\nos.replace(a, b)\nfd = os.open(p, os.O_WRONLY)\n"
     "f = io.open(p, 'wb')\ng = path.open('ab')\nos.chown(p, 0, 0)\n"
     "db = sitedb.SiteDatabase.open(p)", [
        (3, "os.replace() (change files through ctx)"),
        (4, "open() for writing (change files through ctx)"),
        (5, "open() for writing (change files through ctx)"),
        (6, "open() for writing (change files through ctx)"),
        (7, "os.chown() (change files through ctx)"),
        (8, "sitedb.SiteDatabase.open() (use ctx.database, ctx.store or ctx.status)")]),
])
def test_the_checker_finds_file_changes_behind_the_contexts_back(
        source: str, expected: list[tuple[int, str]]) -> None:
    assert violations(source) == expected


def test_the_checker_lets_legitimate_uses_pass() -> None:
    source = """
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
a = sorted(folder.glob("*.PKG"))
b = sorted(p for p in folder.iterdir() if p.is_file())
c = sorted([p.name for p in folder.rglob("*")], key=str.upper)
d = sorted(n for n in os.listdir(path) if not n.startswith("."))
e = sorted(os.scandir(path), key=lambda entry: entry.name)
f = ctx.clock.now()
g = datetime(2007, 6, 4, tzinfo=UTC) + timedelta(days=1)
h = datetime.fromtimestamp(ctx.clock.now(), UTC)
ctx.remove(path)
ctx.remove_tree(folder)
self.ctx.rename(a, b)
with path.open("rb") as f:
    pass
r.ctx.replace(path, b"x")
text = name.replace("a", "b")
with open(path, "rb") as f:
    data = open(path).read()
"""
    assert violations(source) == []
