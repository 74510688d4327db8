"""docs/porting.md's example: python-socketio's own ASGI example app
(examples/python_socketio/original, verbatim) runs on sansio_rooms_asyncio with a diff of at
most 10 changed lines (examples/python_socketio/ported), and python-socketio's client gets
what the example's page would show for each of its events."""

from __future__ import annotations

import asyncio
import difflib
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
import socketio
from _interop_bindings import serve_app_asyncio

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "python_socketio"
WAIT = 5.0
#: What the example's background task broadcasts every 10 s (every 0.1 s here).
SERVER_GENERATED = {"data": "Server generated event"}


def changed_lines(original: Path, ported: Path) -> list[str]:
    """The lines a unified diff removes and adds."""
    diff = difflib.unified_diff(
        original.read_text().splitlines(), ported.read_text().splitlines(), lineterm="", n=0
    )
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_the_port_changes_at_most_ten_lines() -> None:
    changed = changed_lines(EXAMPLE / "original" / "app.py", EXAMPLE / "ported" / "app.py")
    assert 0 < len(changed) <= 10, changed
    for page in ("app.html", "LICENSE"):
        assert (EXAMPLE / "original" / page).read_text() == (EXAMPLE / "ported" / page).read_text()
    guide = (ROOT / "docs" / "porting.md").read_text()
    for line in changed:  # the guide shows (and explains) this very diff
        assert line in guide, line


def test_the_guides_python_blocks_run() -> None:
    """docs/porting.md's code blocks are real code: each builds its server and app."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "porting.md").read_text(), re.S)
    assert len(blocks) == 2
    for block in blocks:
        namespace: dict[str, Any] = {}
        exec(compile(block, "docs/porting.md", "exec"), namespace)
        assert type(namespace["app"]).__name__ == "ASGIApp"


def load_port() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "python_socketio_example_port", EXAMPLE / "ported" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Page:
    """What app.html does, with python-socketio's AsyncClient: it shows ``my_response``'s
    messages (the background task's counted apart: they come at any time) and the
    disconnect."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False, http_session=http)
        self.responses: asyncio.Queue[Any] = asyncio.Queue()
        self.server_generated = 0
        self.generated = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.sio.on("my_response", self._response)
        self.sio.on("disconnect", self._disconnect)

    def _response(self, message: Any) -> None:
        if message == SERVER_GENERATED:
            self.server_generated += 1
            self.generated.set()
        else:
            self.responses.put_nowait(message)

    def _disconnect(self, *reason: Any) -> None:
        self.disconnected.set()

    async def next(self) -> Any:
        return await asyncio.wait_for(self.responses.get(), WAIT)

    async def close(self) -> None:
        await asyncio.wait_for(self.sio.shutdown(), WAIT)
        if self.sio.eio.state != "disconnected":
            await asyncio.wait_for(self.sio.eio.disconnect(), WAIT)


async def drive(app: Any) -> None:
    serving = serve_app_asyncio(app, before_stop=app.server.shutdown)
    async with serving as served, aiohttp.ClientSession() as http:
        async with http.get(served.url + "/") as page:  # static_files={'/': 'app.html'}
            assert page.status == 200 and "<h1>python-socketio test</h1>" in await page.text()
        ann, bob = Page(http), Page(http)
        try:
            await ann.sio.connect(served.url)  # long-polling, then the upgrade, as the page
            assert ann.sio.transport() == "websocket"
            assert await ann.next() == {"data": "Connected", "count": 0}
            await ann.sio.emit("my_event", {"data": "I'm connected!"})
            assert await ann.next() == {"data": "I'm connected!"}
            await bob.sio.connect(served.url, transports=["polling"])
            assert await bob.next() == {"data": "Connected", "count": 0}

            await ann.sio.emit("my_broadcast_event", {"data": "to everyone"})
            for client in (ann, bob):
                assert await client.next() == {"data": "to everyone"}

            await ann.sio.emit("join", {"room": "r"})
            assert await ann.next() == {"data": "Entered room: r"}
            await ann.sio.emit("my_room_event", {"room": "r", "data": "in r"})
            assert await ann.next() == {"data": "in r"}  # the sender is in the room
            await bob.sio.emit("join", {"room": "r"})
            assert await bob.next() == {"data": "Entered room: r"}
            await ann.sio.emit("leave", {"room": "r"})
            assert await ann.next() == {"data": "Left room: r"}
            await ann.sio.emit("my_room_event", {"room": "r", "data": "ann has left"})
            assert await bob.next() == {"data": "ann has left"}

            await ann.sio.emit("join", {"room": "r"})
            assert await ann.next() == {"data": "Entered room: r"}
            await bob.sio.emit("close room", {"room": "r"})
            for client in (ann, bob):
                assert await client.next() == {"data": "Room r is closing."}
            await bob.sio.emit("my_room_event", {"room": "r", "data": "to nobody"})
            await bob.sio.emit("my_event", {"data": "after"})
            assert await bob.next() == {"data": "after"}  # the closed room reached nobody

            for client in (ann, bob):
                await asyncio.wait_for(client.generated.wait(), WAIT)

            await ann.sio.emit("disconnect request")
            await asyncio.wait_for(ann.disconnected.wait(), WAIT)
            assert not ann.sio.connected and bob.sio.connected
            await bob.sio.emit("my_event", {"data": "still here"})
            assert await bob.next() == {"data": "still here"}
            assert ann.responses.empty() and bob.responses.empty()
        finally:
            for client in (ann, bob):
                await client.close()


def test_the_ported_app_serves_python_socketios_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLE / "ported")  # its page is served from the current directory
    port = load_port()
    sleep = port.sio.sleep

    async def faster(seconds: float = 0) -> None:  # the background task's 10 s: 0.1 s
        await sleep(seconds / 100)

    monkeypatch.setattr(port.sio, "sleep", faster)
    asyncio.run(asyncio.wait_for(drive(port.app), 60))
