"""The asyncio and trio bindings offer the same public API: same modules, same exported
names, same public methods with the same signatures, tested by the same tests. A drift fails
here."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import sansio_rooms_asyncio
import sansio_rooms_trio

BINDINGS = (sansio_rooms_asyncio, sansio_rooms_trio)


def public_api(module: object) -> dict[str, object]:
    api: dict[str, object] = {}
    for name in module.__all__:  # type: ignore[attr-defined]
        value = getattr(module, name)
        if inspect.isclass(value):
            members = {}
            for attribute, member in inspect.getmembers(value):
                if attribute.startswith("_") and attribute != "__init__":
                    continue
                if callable(member):
                    try:
                        members[attribute] = str(inspect.signature(member))
                    except ValueError:  # a builtin (an exception's add_note): same for both
                        members[attribute] = "builtin"
                else:
                    members[attribute] = type(member).__name__
            api[name] = members
        else:
            api[name] = str(inspect.signature(value)) if callable(value) else repr(value)
    return api


def test_the_same_names_are_exported() -> None:
    assert sansio_rooms_asyncio.__all__ == sansio_rooms_trio.__all__


@pytest.mark.parametrize("name", sansio_rooms_asyncio.__all__)
def test_the_same_signatures(name: str) -> None:
    assert public_api(sansio_rooms_asyncio)[name] == public_api(sansio_rooms_trio)[name]


def test_the_same_module_names() -> None:
    files = [
        sorted(p.name for p in Path(b.__file__).parent.iterdir() if p.suffix == ".py")
        for b in BINDINGS
    ]
    assert files[0] == files[1]


def defined_tests(folder: Path) -> set[str]:
    """The names of the test functions defined in ``folder``'s test modules."""
    return {
        node.name
        for module in folder.glob("test_*.py")
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_the_public_api_tests_are_written_once() -> None:
    """The tests of the public API are in tests/bindings, each run on both bindings;
    tests/asyncio and tests/trio hold what is true of one loop only. A test of the same name
    in both is a mirrored copy: it belongs in tests/bindings."""
    here = Path(__file__).resolve().parent
    assert defined_tests(here / "bindings")
    assert defined_tests(here / "asyncio") & defined_tests(here / "trio") == set()
