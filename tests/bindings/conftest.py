"""The public-API tests, written once and run on both bindings.

A test here takes the ``binding`` fixture: the binding's module, ``sansio_rooms_asyncio`` then
``sansio_rooms_trio`` (the test ids say which). An ``async def`` test runs on that binding's
loop, started afresh for it: asyncio in real time; trio on ``MockClock(autojump_threshold=0)``,
whose clock jumps to the next deadline whenever every task waits, so that its sleeps and
timeouts cost nothing. ``@pytest.mark.real_clock`` keeps trio on the real clock, for a test
that waits for something trio's clock does not drive (a worker thread, a redis-server).

What is true of one loop only (asyncio's direct writes on uvicorn, trio's nursery) is tested in
tests/asyncio and tests/trio.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from types import ModuleType

import pytest
import trio
import trio.testing

import sansio_rooms_asyncio
import sansio_rooms_trio

BINDINGS = {"asyncio": sansio_rooms_asyncio, "trio": sansio_rooms_trio}

#: A test that has not finished after this long has hung: it fails instead of blocking the
#: suite. Real seconds (asyncio, and trio on the real clock), or virtual seconds.
REAL_TIME_LIMIT = 30.0
VIRTUAL_TIME_LIMIT = 60.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_clock: run on trio's real clock rather than its autojump MockClock"
    )


@pytest.fixture(params=sorted(BINDINGS))
def binding(request: pytest.FixtureRequest) -> ModuleType:
    """The binding under test: ``sansio_rooms_asyncio`` or ``sansio_rooms_trio``."""
    return BINDINGS[request.param]


def run_on_asyncio(test: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(REAL_TIME_LIMIT):
            await test()

    asyncio.run(bounded())


def run_on_trio(test: Callable[[], Awaitable[None]], *, real_clock: bool) -> None:
    async def bounded() -> None:
        with trio.fail_after(REAL_TIME_LIMIT if real_clock else VIRTUAL_TIME_LIMIT):
            await test()

    trio.run(bounded, clock=None if real_clock else trio.testing.MockClock(autojump_threshold=0))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Runs an ``async def`` test on its binding's loop (a plain test runs as usual)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    binding = pyfuncitem.funcargs.get("binding")
    if binding is None:
        pytest.fail(f"{pyfuncitem.name}: an async test here takes the `binding` fixture")
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    test = functools.partial(pyfuncitem.obj, **arguments)
    if binding is sansio_rooms_trio:
        run_on_trio(test, real_clock=pyfuncitem.get_closest_marker("real_clock") is not None)
    else:
        run_on_asyncio(test)
    return True
