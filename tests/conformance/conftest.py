"""Fixtures of the conformance tests: the official suites' client against a real server.

A conformance test is an ``async def`` taking the ``peer`` fixture (a :class:`Peer`: the
suite's ``fetch`` and ``WebSocket``). It runs once per binding (the ``binding`` fixture, from
:data:`_servers.BINDINGS`), under ``asyncio.run``, against a server started for it alone:
the application of the suite named by the module's ``pytest.mark.suite(...)`` marker.

Each test has mocha's time limit: 2 s, or what ``pytest.mark.mocha_timeout(seconds)`` says
(the suites' ``this.timeout(5000)``). The server's start and stop are not counted, as the
suites run against a server that is already up; they are bounded on their own.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conformance._clients import Peer
from tests.conformance._servers import BINDINGS, serve

#: mocha's default timeout of a test.
MOCHA_TIMEOUT = 2.0
#: Closing the clients at the end of a test may take this long (the server's stop has its own).
TEARDOWN_TIMEOUT = 10.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "suite(name): the official suite a conformance module translates"
    )
    config.addinivalue_line(
        "markers", "mocha_timeout(seconds): the test's time limit, when it is not mocha's 2 s"
    )


@pytest.fixture(params=sorted(BINDINGS))
def binding(request: pytest.FixtureRequest) -> str:
    """The binding whose server is under test (a key of ``_servers.BINDINGS``)."""
    name: str = request.param
    return name


@pytest.fixture
def peer(binding: str) -> str:
    """Stands for the :class:`Peer`, which exists only inside the test's event loop:
    :func:`pytest_pyfunc_call` starts the server and hands the test the real one."""
    return binding


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an ``async def`` conformance test against its own server."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj) or "peer" not in pyfuncitem.funcargs:
        return None
    suite = pyfuncitem.get_closest_marker("suite")
    assert suite is not None, f"{pyfuncitem.nodeid}: its module names no pytest.mark.suite"
    limit = pyfuncitem.get_closest_marker("mocha_timeout")
    timeout = limit.args[0] if limit is not None else MOCHA_TIMEOUT
    names = inspect.signature(pyfuncitem.obj).parameters
    arguments = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(_run(pyfuncitem.obj, arguments, suite.args[0], timeout))
    return True


async def _run(test: Any, arguments: dict[str, Any], suite: str, timeout: float) -> None:
    binding: str = arguments["peer"]
    async with serve(binding, suite) as served:
        peer = Peer(served)
        try:
            try:
                async with asyncio.timeout(timeout) as deadline:
                    await test(**{**arguments, "peer": peer})
            except TimeoutError:
                if not deadline.expired():
                    raise
                waiting = "; ".join(peer.cancelled_while_waiting_for) or "the test's own code"
                pytest.fail(
                    f"Timeout of {timeout * 1000:.0f}ms exceeded, waiting for: {waiting}",
                    pytrace=False,
                )
        finally:
            async with asyncio.timeout(TEARDOWN_TIMEOUT):
                await peer.close()


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Collect after each test, so that a client left unclosed is blamed on its own test."""
    yield
    gc.collect()
