"""Fixtures of the interop suite: a real server under test, real clients.

Each test is parametrised over

* ``binding``: the server under test, from :data:`_interop_bindings.BINDINGS`;
* ``client_kind``: ``python`` (python-socketio) or ``node`` (the official JavaScript client);
* ``transport``: ``ws`` (WebSocket only), ``upgrade`` (long-polling, then the upgrade to
  WebSocket) or ``polling`` (long-polling only); ``@pytest.mark.transports(...)`` narrows it.

A test gets the ``interop`` fixture and hands it a scenario, an ``async`` function of a
:class:`_interop_session.Session`; ``interop.run(scenario)`` runs it under ``asyncio.run``
with a server started for this test and stopped after it (the clients are closed first),
everything bounded in time.

The node clients need ``node`` on the PATH and the pinned npm packages installed
(``cd tests/interop/node && npm ci``; ``make test`` does it). Without them the node tests
FAIL (an error in their setup, naming the command to run); they never skip.
"""

from __future__ import annotations

import gc
import json
import shutil
from collections.abc import Iterator

import pytest
from _interop_bindings import BINDINGS
from _interop_clients import CLIENT_KINDS, NODE_DIR, NodeHost
from _interop_session import TRANSPORTS, Interop

collect_ignore = ["node"]

NPM_CI = "cd tests/interop/node && npm ci --no-audit --no-fund"  # what `make test` runs


def _node_executable() -> str:
    """The checked ``node``; fails (never skips) the test when the setup is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "interop: `node` is not on the PATH; the JavaScript-client tests need Node.js >= 18",
            pytrace=False,
        )
    wanted = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    for package, version in wanted.items():
        manifest = NODE_DIR / "node_modules" / package / "package.json"
        if not manifest.is_file():
            pytest.fail(
                f"interop: {manifest.relative_to(NODE_DIR.parent.parent.parent)} is missing; "
                f"install the pinned JavaScript client first: `{NPM_CI}`",
                pytrace=False,
            )
        installed = json.loads(manifest.read_text())["version"]
        if installed != version:
            pytest.fail(
                f"interop: {package} {installed} is installed, {version} is pinned; "
                f"reinstall: `{NPM_CI}`",
                pytrace=False,
            )
    return node


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "transports(*names): run an interop test over these transports only (default: all of "
        "_interop_session.TRANSPORTS)",
    )
    config.addinivalue_line(
        "markers",
        "client_kinds(*kinds): run an interop test with these client kinds only (default: "
        "all of _interop_clients.CLIENT_KINDS)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """binding x client kind x transport, for the tests that use those fixtures."""
    names = metafunc.fixturenames
    if "binding" in names:
        metafunc.parametrize("binding", sorted(BINDINGS), indirect=True)
    if "client_kind" in names:
        marker = metafunc.definition.get_closest_marker("client_kinds")
        kinds = list(marker.args) if marker is not None else list(CLIENT_KINDS)
        assert set(kinds) <= set(CLIENT_KINDS), f"unknown client kinds in {kinds}"
        metafunc.parametrize("client_kind", kinds, indirect=True)
    if "transport" in names:
        marker = metafunc.definition.get_closest_marker("transports")
        transports = list(marker.args) if marker is not None else list(TRANSPORTS)
        unknown = set(transports) - set(TRANSPORTS)
        assert not unknown, f"unknown transports {unknown} (known: {list(TRANSPORTS)})"
        metafunc.parametrize("transport", transports, indirect=True)


@pytest.fixture
def binding(request: pytest.FixtureRequest) -> str:
    """The name of the server under test (a key of BINDINGS)."""
    name: str = request.param
    return name


@pytest.fixture
def client_kind(request: pytest.FixtureRequest) -> str:
    """``python`` or ``node``; ``node`` fails the test unless node and the pinned client are
    installed."""
    kind: str = request.param
    if kind == "node":
        NodeHost.executable = _node_executable()
    return kind


@pytest.fixture
def transport(request: pytest.FixtureRequest) -> str:
    """A key of TRANSPORTS."""
    name: str = request.param
    return name


@pytest.fixture
def interop(binding: str, client_kind: str, transport: str) -> Interop:
    return Interop(binding, client_kind, transport)


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Collect after each test, so that a client left unclosed is blamed on its own test
    (its ResourceWarning), not on whichever test the garbage collector happens to run in."""
    yield
    gc.collect()
