"""The server of each binding's quickstart (docs/asyncio.md, docs/trio.md) runs and does
what the page says."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

from ._memory import MemoryClient

DOCS = Path(__file__).resolve().parents[2] / "docs"


def quickstart(binding: ModuleType) -> dict[str, Any]:
    """The names the page's first Python block defines (it uses ``binding``'s imports)."""
    page = DOCS / (binding.__name__.removeprefix("sansio_rooms_") + ".md")
    block = re.search(r"```python\n(.*?)```", page.read_text(), re.S)
    assert block is not None
    assert f"from {binding.__name__} import" in block.group(1)
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), str(page), "exec"), namespace)
    return namespace


async def test_the_quickstart_server_works_as_documented(binding: ModuleType) -> None:
    namespace = quickstart(binding)
    server = namespace["server"]
    assert type(namespace["app"]) is binding.ASGIApp
    async with server.running():
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
