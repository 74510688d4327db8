"""The asyncio and trio bindings offer the same public API: same modules, same exported
names, same public methods with the same signatures. A drift fails here."""

from __future__ import annotations

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


def test_the_same_test_files() -> None:
    here = Path(__file__).resolve().parent
    assert sorted(p.name for p in (here / "asyncio").glob("*.py")) == sorted(
        p.name for p in (here / "trio").glob("*.py")
    )
