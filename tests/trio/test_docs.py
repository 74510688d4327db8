"""The server of docs/trio.md's quickstart runs and does what the page says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import trio
import trio.testing

from ._memory import MemoryClient

DOC = Path(__file__).resolve().parents[2] / "docs" / "trio.md"


def quickstart() -> dict[str, Any]:
    block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), str(DOC), "exec"), namespace)
    return namespace


def test_the_quickstart_server_works_as_documented() -> None:
    async def scenario() -> None:
        namespace = quickstart()
        server = namespace["server"]
        async with server.running():
            await talk(namespace, server)

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))


async def talk(namespace: dict[str, Any], server: Any) -> None:
    assert type(namespace["app"]).__name__ == "ASGIApp"
    intruder = MemoryClient(server)
    intruder.feed('40{"token":"guess"}')
    assert await intruder.wait_for("44") == '44{"message":"bad token"}'
    ann, bob = MemoryClient(server), MemoryClient(server)
    ann_sid = await ann.connect(auth={"token": "secret"})
    await bob.connect(auth={"token": "secret"})
    bob.emit("join", "lobby", ack_id=1)
    assert await bob.wait_for("43") == '431["welcome"]'
    ann.emit("join", "lobby", ack_id=2)
    assert await bob.wait_for('42["joined"') == f'42["joined","{ann_sid}"]'
    ann.feed("41")
    assert await bob.wait_for('42["left"') == f'42["left","{ann_sid}"]'
