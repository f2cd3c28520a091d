"""The component rules of docs/runtime.md, enforced on the source of `sitesrv/components/`.

Components run under both drivers and must be deterministic in step mode, so they never:
- import `time`, `random` or `uuid` (the context has the clock, `rng` and `ids`);
- ask `datetime.now()`, `datetime.utcnow()`, `datetime.today()` or `date.today()`;
- list a folder in the file system's order: `.iterdir()`, `.glob()`, `.rglob()`, `glob.iglob()`,
  `os.listdir()`, `os.scandir()` and `os.walk()` must be the direct argument of `sorted(...)`,
  or the iterable of a comprehension that is (`sorted(p.name for p in folder.glob("*"))`).
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


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.problems: list[tuple[int, str]] = []
        self.parents: dict[ast.AST, ast.AST] = {}
        self.os_names: set[str] = set()  # names bound to the os module
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
            elif alias.name == "os":
                self.os_names.add(bound)
            elif alias.name == "datetime":
                self.datetime_modules.add(bound)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = (node.module or "").split(".")[0]
        if node.level == 0 and module in FORBIDDEN_MODULES:
            self._problem(node, f"from {node.module} import ... (use {FORBIDDEN_MODULES[module]})")
        for alias in node.names:
            bound = alias.asname or alias.name
            if node.module == "os" and alias.name in OS_LISTINGS:
                self.os_functions[bound] = alias.name
            elif node.module == "datetime" and alias.name in ("datetime", "date"):
                self.clock_classes.add(bound)

    # --- calls ----------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
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
"""
    assert violations(source) == []
