"""Every test asserts something: a guard over the whole of tests/, by reading the source.

A test counts as asserting when its body (nested functions included) holds an ``assert``,
``raise AssertionError``, ``pytest.raises``/``warns``/``fail``/``deprecated_call``, or calls
something that does. A call is followed, to any depth, when it names a function or class
defined under tests/ (in the same module, imported by name or through a module alias), a
method of the enclosing class (``self.``), a method of a tests/ class that a parameter or
local is annotated or built as (``sockets: SocketModeServer``), or a test function itself
(``test_x.hypothesis.inner_test``). Any other call counts when its name says it asserts
(``assert_allclose``, ``mock.assert_called_once``, ``expect_…``, ``check_…``, ``verify_…``).

A test whose point is that a call does not raise still asserts what the call gave back (its
type, shape or a value read from the input), so that this guard needs no exceptions list.
"""

from __future__ import annotations

import ast
import gc
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_ASSERTY = re.compile(r"^_*(assert|check|expect|verify|must)", re.IGNORECASE)
_PYTEST_ASSERTS = frozenset({"raises", "warns", "fail", "deprecated_call"})
_ASSERT_LINE = re.compile(r"\s*(assert\b|with pytest\.raises\(|raise AssertionError\b)")
_Func = ast.FunctionDef | ast.AsyncFunctionDef


class _Module:
    def __init__(self, name: str, source: str, is_package: bool) -> None:
        self.name = name
        self.lines = source.splitlines()
        self.tree = ast.parse(source)
        self.defs: dict[str, _Func | ast.ClassDef] = {}
        self.imports: dict[str, tuple[str, str | None]] = {}  # alias -> (module, name)
        package = name if is_package else name.rpartition(".")[0]
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.defs[node.name] = node
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (alias.name, None)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (base, alias.name)


class Scanner:
    """Finds the tests in ``sources`` (module name -> text) that assert nothing."""

    def __init__(self, sources: Mapping[str, tuple[str, bool]]) -> None:
        self.sources = sources
        self._parsed: dict[str, _Module] = {}
        self._memo: dict[tuple[int, int], bool] = {}

    def module(self, name: str) -> _Module | None:
        """The module of that name under tests/, parsed on first use."""
        if name not in self._parsed and name in self.sources:
            text, package = self.sources[name]
            self._parsed[name] = _Module(name, text, package)
        return self._parsed.get(name)

    # ---------------------------------------------------------------- name resolution
    def resolve(
        self, module: _Module, name: str, seen: int = 0
    ) -> tuple[_Module, _Func | ast.ClassDef] | None:
        if name in module.defs:
            return module, module.defs[name]
        if name in module.imports and seen < 8:
            base, attr = module.imports[name]
            target = self.module(base)
            if attr is not None and target is not None:
                return self.resolve(target, attr, seen + 1)
        return None

    def module_alias(self, module: _Module, name: str) -> _Module | None:
        if name not in module.imports:
            return None
        base, attr = module.imports[name]
        return self.module(base if attr is None else f"{base}.{attr}")

    def method(
        self, module: _Module, cls: ast.ClassDef, name: str, seen: int = 0
    ) -> tuple[_Module, _Func] | None:
        for item in cls.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == name:
                return module, item
        for base in cls.bases:
            if isinstance(base, ast.Name) and seen < 8:
                found = self.resolve(module, base.id)
                if found is not None and isinstance(found[1], ast.ClassDef):
                    return self.method(found[0], found[1], name, seen + 1)
        return None

    def class_of(
        self, module: _Module, expr: ast.expr | None
    ) -> tuple[_Module, ast.ClassDef] | None:
        """The tests/ class an annotation or a constructor call names, if any."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            try:
                expr = ast.parse(expr.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(expr, ast.Call):
            expr = expr.func
        found: tuple[_Module, _Func | ast.ClassDef] | None = None
        if isinstance(expr, ast.Name):
            found = self.resolve(module, expr.id)
        elif isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            alias = self.module_alias(module, expr.value.id)
            found = self.resolve(alias, expr.attr) if alias is not None else None
        if found is None:
            return None
        if isinstance(found[1], ast.ClassDef):
            return found[0], found[1]
        return self.class_of(found[0], found[1].returns)  # a factory's return annotation

    # ---------------------------------------------------------------- the question
    def asserts(
        self, module: _Module, node: _Func, owner: tuple[_Module, ast.ClassDef] | None = None
    ) -> bool:
        key = (id(node), id(owner[1]) if owner else 0)
        if key not in self._memo:
            self._memo[key] = False  # a recursive call asserts only if another path does
            self._memo[key] = self._asserts(module, node, owner)
        return self._memo[key]

    def _asserts(
        self, module: _Module, node: _Func, owner: tuple[_Module, ast.ClassDef] | None
    ) -> bool:
        nodes = list(ast.walk(node))
        typed: dict[str, tuple[_Module, ast.ClassDef]] = {}
        for n in nodes:
            if isinstance(n, ast.arg) and (cls := self.class_of(module, n.annotation)):
                typed[n.arg] = cls
            elif isinstance(n, ast.Assign | ast.AnnAssign):
                value_cls = self.class_of(module, n.value)
                if isinstance(n, ast.AnnAssign):
                    value_cls = self.class_of(module, n.annotation) or value_cls
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                for target in targets:
                    if isinstance(target, ast.Name) and value_cls:
                        typed[target.id] = value_cls
            elif (
                isinstance(n, ast.withitem)
                and isinstance(n.optional_vars, ast.Name)
                and (cls := self.class_of(module, n.context_expr))
            ):
                typed[n.optional_vars.id] = cls
        if owner is not None:
            typed.setdefault("self", owner)
            typed.setdefault("cls", owner)
        for n in nodes:
            if isinstance(n, ast.Assert):
                return True
            if isinstance(n, ast.Raise) and n.exc is not None:
                exc = n.exc.func if isinstance(n.exc, ast.Call) else n.exc
                if isinstance(exc, ast.Name) and exc.id == "AssertionError":
                    return True
            if isinstance(n, ast.Call) and self._call_asserts(module, n.func, typed):
                return True
        return False

    def _call_asserts(
        self, module: _Module, func: ast.expr, typed: Mapping[str, tuple[_Module, ast.ClassDef]]
    ) -> bool:
        if isinstance(func, ast.Name):
            found = self.resolve(module, func.id)
            if found is None:
                return bool(_ASSERTY.match(func.id))
            where, node = found
            if isinstance(node, ast.ClassDef):
                built = self.method(where, node, "__init__") or self.method(
                    where, node, "__post_init__"
                )
                return built is not None and self.asserts(built[0], built[1], (where, node))
            return self.asserts(where, node)
        if not isinstance(func, ast.Attribute):
            return False
        receiver = func.value
        if isinstance(receiver, ast.Name):
            if receiver.id == "pytest" and func.attr in _PYTEST_ASSERTS:
                return True
            alias = self.module_alias(module, receiver.id)
            if alias is not None:
                return self._call_asserts(alias, ast.Name(id=func.attr), {})
            if receiver.id in typed:
                where, cls = typed[receiver.id]
                found_method = self.method(where, cls, func.attr)
                if found_method is not None:
                    return self.asserts(found_method[0], found_method[1], (where, cls))
        root = receiver
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id.startswith("test"):
            found = self.resolve(module, root.id)  # test_x.hypothesis.inner_test(...)
            if found is not None and not isinstance(found[1], ast.ClassDef):
                return self.asserts(found[0], found[1])
        return bool(_ASSERTY.match(func.attr))

    def tests(self) -> Iterator[tuple[str, int, str, bool]]:
        """(module, line, test name, asserts) for every test of every test_* module."""
        for name in self.sources:
            module = self.module(name) if name.rpartition(".")[2].startswith("test_") else None
            if module is None:
                continue
            for node in module.tree.body:
                if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                    owner = (module, node)
                    methods = [
                        i
                        for i in node.body
                        if isinstance(i, ast.FunctionDef | ast.AsyncFunctionDef)
                    ]
                    for item in methods:
                        if item.name.startswith("test"):
                            found = self._test_asserts(module, item, owner)
                            yield module.name, item.lineno, f"{node.name}.{item.name}", found
                elif isinstance(
                    node, ast.FunctionDef | ast.AsyncFunctionDef
                ) and node.name.startswith("test"):
                    yield (
                        module.name,
                        node.lineno,
                        node.name,
                        self._test_asserts(module, node, None),
                    )

    def _test_asserts(
        self, module: _Module, node: _Func, owner: tuple[_Module, ast.ClassDef] | None
    ) -> bool:
        # Most tests hold an assert statement of their own: a line that starts with one
        # settles it without walking the tree (a string line that starts so is the rare miss).
        lines = module.lines[node.lineno - 1 : node.end_lineno]
        if any(_ASSERT_LINE.match(line) for line in lines):
            return True
        return self.asserts(module, node, owner)


def _suite() -> dict[str, tuple[str, bool]]:
    sources = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if package else parts)
        sources[name] = (path.read_text(encoding="utf-8"), package)
    return sources


def test_every_test_in_the_suite_asserts_something() -> None:
    # The syntax trees stay alive while the scan runs: with the cyclic collector walking
    # them again after every few thousand new nodes, parsing takes three times as long.
    collecting = gc.isenabled()
    gc.disable()
    try:
        scanned = list(Scanner(_suite()).tests())
    finally:
        if collecting:
            gc.enable()
    silent = [f"{module}:{line} {name}" for module, line, name, found in scanned if not found]
    assert len(scanned) > 2000  # the scan found the suite
    assert silent == [], "tests that assert nothing:\n  " + "\n  ".join(silent)


HELPERS = """
import pytest

def expect_ok(x):
    return x

def _same(a, b):
    assert a == b

def quiet(x):
    return x

class Rig:
    def settle(self):
        raise AssertionError("never settled")

    def poke(self):
        return 1

def make_rig() -> "Rig":
    return Rig()
"""

CASES = """
import pytest
from tests.helpers import _same, quiet, Rig, make_rig
from tests import helpers as h

def test_plain():
    assert 1

def test_via_imported_helper():
    _same(1, 1)

def test_via_module_alias():
    h._same(1, 1)

def test_raises():
    with pytest.raises(ValueError):
        int("x")

def test_asserting_name():
    mock_like().assert_called_once()

def test_fixture_method(rig: Rig):
    rig.settle()

def test_factory_method():
    rig = make_rig()
    rig.settle()

def test_nested_helper():
    def inner():
        assert True
    inner()

def test_delegates():
    test_plain.hypothesis.inner_test()

class TestGroup:
    def _check_it(self):
        return None

    def _helper(self):
        assert True

    def test_self_helper(self):
        self._helper()

    def test_silent_method(self):
        self._check_it()

def test_silent():
    quiet(1)

def test_silent_method_of_fixture(rig: Rig):
    rig.poke()

def test_named_like_a_check_but_defined_quiet():
    h.expect_ok(1)
"""


def test_the_scanner_follows_helpers_and_flags_silent_tests() -> None:
    scanner = Scanner(
        {"tests": ("", True), "tests.helpers": (HELPERS, False), "tests.test_x": (CASES, False)}
    )
    silent = [name for _, _, name, found in scanner.tests() if not found]
    assert silent == [
        "TestGroup.test_silent_method",
        "test_silent",
        "test_silent_method_of_fixture",
        "test_named_like_a_check_but_defined_quiet",
    ]
