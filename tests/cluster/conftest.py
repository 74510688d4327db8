"""The cluster tests and the Node adapter/emitter fixtures they check against.

Fixtures: ``redis_server`` (a fresh ``redis-server`` for each test, killed after it) and
``redis_server_module`` (one for a whole test module). Each runs its own process on a free
loopback port (see ``_redis.py``); a missing ``redis-server`` binary FAILS the test with what
to install, it never skips.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _redis import RedisServer, RedisServerMissing

collect_ignore = ["node"]  # the npm project that captures the fixtures


def _start() -> RedisServer:
    try:
        return RedisServer()
    except RedisServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with _start() as server:
        yield server


@pytest.fixture(scope="module")
def redis_server_module() -> Iterator[RedisServer]:
    with _start() as server:
        yield server
