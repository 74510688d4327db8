"""Fixtures of the web tests: the server under test on a real ASGI server, real clients.

Every test takes ``binding`` (``asyncio``: uvicorn; ``trio``: hypercorn's trio worker),
and runs once for each. ``client_kind`` (``node``: the official JavaScript client;
``python``: python-socketio's) and ``transport`` (``polling``, ``ws``) parametrise the tests
that take them. ``node`` is the checked ``node`` executable: without node or the pinned npm
packages (``cd tests/interop/node && npm ci``; ``make test`` does it) the test FAILS, it
never skips.

The harness is tests/interop's (``_interop_bindings``, ``_interop_clients``), on the path here.
"""

from __future__ import annotations

import gc
import importlib
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

INTEROP = Path(__file__).resolve().parent.parent / "interop"
if str(INTEROP) not in sys.path:  # pragma: no cover - depends on what pytest collected first
    sys.path.append(str(INTEROP))

from _interop_bindings import BINDINGS  # noqa: E402
from _interop_clients import NODE_DIR  # noqa: E402

collect_ignore = ["node"]

NPM_CI = "cd tests/interop/node && npm ci --no-audit --no-fund"  # what `make test` runs


#: The ASGI servers: what these tests are about is the app inside a web app (the bindings'
#: own server, ``asyncio-native``, runs the interop and conformance suites).
ASGI_BINDINGS = sorted(name for name in BINDINGS if not name.endswith("-native"))


@pytest.fixture(params=ASGI_BINDINGS)
def binding(request: pytest.FixtureRequest) -> str:
    """The server under test: ``asyncio`` (uvicorn) or ``trio`` (hypercorn)."""
    name: str = request.param
    return name


@pytest.fixture
def api(binding: str) -> ModuleType:
    """The binding's module: ``sansio_rooms_asyncio`` or ``sansio_rooms_trio``."""
    return importlib.import_module(f"sansio_rooms_{binding}")


@pytest.fixture(params=["node", "python"])
def client_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture(params=["polling", "ws"])
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def node() -> str:
    """The ``node`` executable, checked: on the PATH, with the pinned packages installed."""
    executable = shutil.which("node")
    if executable is None:
        pytest.fail("web: `node` is not on the PATH (Node.js >= 18 is needed)", pytrace=False)
    wanted = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    for package, version in wanted.items():
        manifest = NODE_DIR / "node_modules" / package / "package.json"
        installed = json.loads(manifest.read_text())["version"] if manifest.is_file() else None
        if installed != version:
            pytest.fail(
                f"web: {package} {version} is pinned, {installed or 'none'} is installed: "
                f"`{NPM_CI}`",
                pytrace=False,
            )
    return executable


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """A client left unclosed is blamed on its own test (its ResourceWarning)."""
    yield
    gc.collect()
