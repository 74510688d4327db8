"""Fixtures of the Admin UI tests: ``server.instrument()`` on the real bindings, driven by
the official JavaScript client connecting as the Admin UI does (``node/admin.cjs``), while
chat clients (tests/interop's ``client.cjs``) come and go.

``binding`` is the server under test: ``asyncio`` (uvicorn) and ``trio`` (hypercorn), the
two bindings; ``node`` is the checked ``node`` executable. Without node or the pinned npm
packages (``cd tests/admin/node && npm ci``, ``cd tests/interop/node && npm ci``; ``make
test`` does both) the node tests FAIL, they never skip. The harness is tests/interop's
(``_interop_bindings``, ``_interop_clients``), on the path here, unchanged.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

INTEROP = Path(__file__).resolve().parent.parent / "interop"
if str(INTEROP) not in sys.path:  # pragma: no cover - depends on what pytest collected first
    sys.path.append(str(INTEROP))

from _interop_clients import NODE_DIR  # noqa: E402

collect_ignore = ["node"]

ADMIN_DIR = Path(__file__).resolve().parent / "node"
#: What `make test` runs, for each folder.
NPM_CI = {
    ADMIN_DIR: "cd tests/admin/node && npm ci --no-audit --no-fund",
    NODE_DIR: "cd tests/interop/node && npm ci --no-audit --no-fund",
}


@pytest.fixture(params=["asyncio", "trio"])
def binding(request: pytest.FixtureRequest) -> str:
    """The server under test: ``asyncio`` (uvicorn) or ``trio`` (hypercorn)."""
    name: str = request.param
    return name


@pytest.fixture
def node() -> str:
    """The ``node`` executable, checked: on the PATH, with the pinned packages installed."""
    executable = shutil.which("node")
    if executable is None:
        pytest.fail("admin: `node` is not on the PATH (Node.js >= 18 is needed)", pytrace=False)
    for folder, command in NPM_CI.items():
        wanted = json.loads((folder / "package.json").read_text())["dependencies"]
        for package, version in wanted.items():
            manifest = folder / "node_modules" / package / "package.json"
            installed = json.loads(manifest.read_text())["version"] if manifest.is_file() else None
            if installed != version:
                pytest.fail(
                    f"admin: {package} {version} is pinned, {installed or 'none'} is installed "
                    f"in {folder.name}: `{command}`",
                    pytrace=False,
                )
    return executable
