"""The public surface: what ``sansio_rooms`` exports, which classes are final, what importing it
pulls in, and that the docs' references to tests are real."""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
import textwrap
import tomllib
import typing
from pathlib import Path

import pytest

import sansio_rooms

PACKAGE = Path(sansio_rooms.__file__).parent
ROOT = PACKAGE.parent

#: Private modules that ``__init__`` may draw from without re-exporting all of their
#: ``__all__``. ``_acks`` holds the ack bookkeeping (``AckTracker``, ``check_time``): reachable
#: as ``engine.acks`` (for ``len``), but not part of the import surface.
INTERNAL = {"_acks"}
#: The modules of the rooms engine; every one of them is re-exported in full.
ENGINE_MODULES = {"_engine", "_errors", "_events", "_names", "_outputs", "_state"}


def reexports() -> dict[str, set[str]]:
    """``{private module: names __init__ imports from it}``, read from __init__'s source."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            names = found.setdefault(node.module, set())
            for alias in node.names:
                # "from ._x import Name as Name": the explicit re-export form.
                assert alias.asname in (None, alias.name), alias.name
                names.add(alias.name)
    return found


def test_all_is_the_union_of_the_private_modules_all() -> None:
    imported = reexports()
    assert set(imported) >= ENGINE_MODULES
    union: set[str] = set()
    for name, names in imported.items():
        module = importlib.import_module(f"sansio_rooms.{name}")
        assert name.startswith("_"), name
        if name in INTERNAL:
            assert names <= set(module.__all__), name
        else:
            assert names == set(module.__all__), f"{name} is not re-exported in full"
        union |= names
    assert len(sansio_rooms.__all__) == len(set(sansio_rooms.__all__))
    assert set(sansio_rooms.__all__) == union


def test_internal_modules_stay_internal() -> None:
    from sansio_rooms import _acks

    imported = reexports().get("_acks", set())
    assert imported == set(), "the ack bookkeeping is internal; update INTERNAL/docs if not"
    assert not set(_acks.__all__) & set(sansio_rooms.__all__)


def test_every_exported_name_is_the_private_modules_object() -> None:
    for module_name, names in reexports().items():
        module = importlib.import_module(f"sansio_rooms.{module_name}")
        for name in names:
            assert getattr(sansio_rooms, name) is getattr(module, name), name


def test_version_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert sansio_rooms.__version__ == project["version"]


# -- final classes ------------------------------------------------------------------------------


def public_classes(module_name: str) -> dict[str, type]:
    module = importlib.import_module(f"sansio_rooms.{module_name}")
    return {
        name: obj
        for name in module.__all__
        if isinstance(obj := getattr(module, name), type) and obj.__module__ == module.__name__
    }


def test_event_and_output_values_are_final() -> None:
    """Values are dispatched and compared on their exact type: they are ``@final``."""
    events, outputs = public_classes("_events"), public_classes("_outputs")
    assert set(events.values()) == set(typing.get_args(sansio_rooms.Event))
    assert set(outputs.values()) == set(typing.get_args(sansio_rooms.Output))
    for name, cls in {**events, **outputs}.items():
        assert getattr(cls, "__final__", False) is True, f"{name} is not @final"


def test_final_is_declared_exactly_on_the_value_classes() -> None:
    """Errors form a hierarchy meant to be caught by base class; RoomEngine and Namespace are
    not declared final. Any other @final in the engine modules would be a new decision."""
    final = {
        name
        for module_name in ENGINE_MODULES
        for name, cls in public_classes(module_name).items()
        if getattr(cls, "__final__", False)
    }
    values = set(public_classes("_events")) | set(public_classes("_outputs"))
    assert final == values


def test_every_final_declared_in_the_source_is_seen_at_runtime() -> None:
    for module_name in sorted(ENGINE_MODULES):
        tree = ast.parse((PACKAGE / f"{module_name}.py").read_text(encoding="utf-8"))
        classes = public_classes(module_name)
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name in classes:
                declared = any(
                    isinstance(d, ast.Name) and d.id == "final" for d in node.decorator_list
                )
                assert getattr(classes[node.name], "__final__", False) is declared, node.name


# -- what importing the core pulls in -----------------------------------------------------------

#: The core never imports a loop, sockets, a clock or threads (DESIGN §2), nor the test kit's
#: dependency.
FORBIDDEN = {"asyncio", "trio", "anyio", "socket", "time", "threading", "hypothesis"}
#: Its own code draws randomness only from ``secrets`` (which itself imports ``random`` for
#: ``SystemRandom``, so this one is checked in the source, not in ``sys.modules``).
FORBIDDEN_IN_SOURCE = FORBIDDEN | {"random"}


def test_importing_sansio_rooms_pulls_in_no_loop_socket_clock_thread_or_hypothesis() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        startup = set(sys.modules)
        import attrs  # the runtime dependency, with whatever it imports itself
        dependencies = set(sys.modules)
        import sansio_rooms
        print(json.dumps({
            "startup": sorted(startup),
            "dependencies": sorted(dependencies - startup),
            "added": sorted(set(sys.modules) - dependencies),
        }))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    report = json.loads(result.stdout)
    roots = {name.split(".")[0] for name in report["added"]}
    assert "sansio_rooms" in roots
    # Nothing that sansio_rooms itself brings in is forbidden ...
    assert not roots & FORBIDDEN, sorted(roots & FORBIDDEN)
    # ... and after the import, no loop, socket or hypothesis is loaded at all. (``time`` is
    # loaded by the interpreter at startup, and ``threading`` by attrs for a thread-local in
    # its repr machinery; neither comes from this package: checked above and below.)
    everything = {
        name.split(".")[0] for name in report["startup"] + report["dependencies"] + report["added"]
    }
    assert not everything & {"asyncio", "trio", "anyio", "socket", "hypothesis"}


def core_sources() -> list[Path]:
    """The core package's modules; the test kit (``sansio_rooms.testing``) may use hypothesis."""
    return sorted(p for p in PACKAGE.rglob("*.py") if "testing" not in p.relative_to(PACKAGE).parts)


def test_no_core_module_imports_a_loop_socket_clock_thread_or_hypothesis() -> None:
    offenders = []
    for path in core_sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {module}"
                for module in modules
                if module.split(".")[0] in FORBIDDEN_IN_SOURCE
            ]
    assert offenders == []
    assert PACKAGE / "_engine.py" in core_sources()


# -- typing: the documented argument shapes type-check ------------------------------------------

TYPED_USAGE = """
from sansio_rooms import (
    Deliveries, DisconnectSockets, Emit, EmitWithAck, Join, Output, RoomEngine, SocketsJoin,
    SocketsLeave,
)

engine = RoomEngine(notices=True)
nsp = engine.namespace("chat")
outputs: list[Output] = nsp.connect("a")
outputs += nsp.join("a", ["x", 42])
outputs += nsp.join("a", "y")
outputs += nsp.leave("a", ("x",))
deliveries: Deliveries = nsp.emit({"e": 1}, rooms=["x", 42], except_="b", sids=["a"], sender="a")
pairs = [(sid, payload) for sid, payload in deliveries]
outputs += nsp.emit_with_ack(1, now=0.0, timeout=5, rooms={"x"})
outputs += engine.handle(Join(nsp="chat", sid="a", rooms=["z", 1]))
outputs += engine.handle(Emit(payload=1, rooms=["x"], except_=["y"], sids=["a"]))
outputs += engine.handle(EmitWithAck(payload=1, now=0, timeout=1, rooms=[42]))
outputs += engine.handle(SocketsJoin(join=["r"], rooms=["x"], except_="y", sids=("a",)))
outputs += engine.handle(SocketsLeave(leave="r", rooms=["x"]))
outputs += engine.handle(DisconnectSockets(rooms=["x"], close_connection=True))
deadline: float | None = engine.next_deadline()
"""


def test_the_documented_argument_shapes_type_check(tmp_path: Path) -> None:
    """Users get ``py.typed``: passing lists where the docs say "one room or several" must
    satisfy ``mypy --strict`` (the event fields' converters must be visible to it)."""
    pytest.importorskip("mypy")
    (tmp_path / "usage.py").write_text(TYPED_USAGE, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            f"--cache-dir={tmp_path / 'cache'}",
            "usage.py",
        ],
        cwd=tmp_path,
        env={"MYPYPATH": str(ROOT), "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # And the code it checked really runs.
    exec(compile(TYPED_USAGE, "usage.py", "exec"), {})


# -- docs ---------------------------------------------------------------------------------------


def test_every_test_named_in_docs_semantics_exists() -> None:
    text = (ROOT / "docs" / "semantics.md").read_text(encoding="utf-8")
    references = re.findall(r"(test_\w+\.py)::(\w+)", text)
    assert len(references) >= 30
    defined: dict[str, set[str]] = {}
    for file_name, test_name in references:
        if file_name not in defined:
            tree = ast.parse((ROOT / "tests" / file_name).read_text(encoding="utf-8"))
            defined[file_name] = {
                node.name for node in tree.body if isinstance(node, ast.FunctionDef)
            }
        assert test_name in defined[file_name], f"{file_name}::{test_name}"
