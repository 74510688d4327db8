"""Each binding's ``compat`` module (python-socketio's API) on the binding's loop: handlers by
sid, callbacks and ``call`` answered through the loop, background tasks that a graceful
shutdown neither waits for nor leaves running."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest

from ..test_bindings_parity import public_api
from ._memory import MemoryClient, settle


def compat(binding: ModuleType) -> ModuleType:
    return importlib.import_module(f"{binding.__name__}.compat")


def ack_id_of(frame: str) -> int:
    match = re.match(r"42(\d+)\[", frame)
    assert match is not None, frame
    return int(match.group(1))


def test_the_compat_modules_offer_the_same_api() -> None:
    asyncio_compat = compat(importlib.import_module("sansio_rooms_asyncio"))
    trio_compat = compat(importlib.import_module("sansio_rooms_trio"))
    assert asyncio_compat.__all__ == trio_compat.__all__
    assert asyncio_compat.__all__ == [
        "ASGIApp",
        "AsyncNamespace",
        "AsyncServer",
        "ConnectionRefusedError",
    ]
    assert public_api(asyncio_compat) == public_api(trio_compat)


async def test_python_socketio_handlers_on_the_compat_server(binding: ModuleType) -> None:
    socketio = compat(binding)
    sio = socketio.AsyncServer(async_mode="asgi")

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        await sio.emit("welcome", {"query": environ["QUERY_STRING"]}, to=sid)
        await sio.save_session(sid, {"user": auth["user"]})

    @sio.event
    async def join(sid: str, room: str) -> list[Any]:
        await sio.enter_room(sid, room)
        return sio.rooms(sid)

    @sio.on("chat")
    async def chat(sid: str, text: str) -> None:
        session = await sio.get_session(sid)
        await sio.emit("chat", (session["user"], text), room="lobby", skip_sid=sid)

    async with sio.running():
        ann, bob = MemoryClient(sio), MemoryClient(sio)
        ann_sid = await ann.connect(auth={"user": "ann"})
        bob_sid = await bob.connect(auth={"user": "bob"})
        welcome = '42["welcome",{"query":"EIO=4&transport=websocket"}]'
        assert await ann.wait_for("42") == welcome and await bob.wait_for("42") == welcome
        for client, sid in ((ann, ann_sid), (bob, bob_sid)):
            client.emit("join", "lobby", ack_id=1)
            assert json.loads((await client.wait_for("431"))[3:]) == [[sid, "lobby"]]
        ann.emit("chat", "hello")
        assert await bob.wait_for("42") == '42["chat","ann","hello"]'
        await settle()
        assert ann.texts() == []


async def test_callbacks_and_call_through_the_loop(binding: ModuleType) -> None:
    socketio = compat(binding)
    sio = socketio.AsyncServer()
    async with sio.running():
        client = MemoryClient(sio)
        sid = await client.connect()
        answers: list[Any] = []

        async def answered(*args: Any) -> None:
            answers.append(args)

        await sio.emit("question", "?", to=sid, callback=answered)
        asked = await client.wait_for("42")
        client.feed(f'43{ack_id_of(asked)}["yes",1]')
        with anyio.fail_after(2):
            while not answers:
                await settle()
        assert answers == [("yes", 1)]
        result: list[Any] = []

        async def call() -> None:
            result.append(await sio.call("sum", (1, 2), to=sid, timeout=5))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call)
            asked = await client.wait_for("42")
            assert asked.endswith('["sum",1,2]')
            client.feed(f"43{ack_id_of(asked)}[3]")
        assert result == [3]


async def test_background_tasks_do_not_hold_up_the_shutdown(binding: ModuleType) -> None:
    socketio = compat(binding)
    sio = socketio.AsyncServer()
    ended: list[str] = []

    async def ticking(every: float) -> None:
        try:
            while True:
                await sio.sleep(every)
                await sio.emit("tick")
        finally:
            ended.append("cancelled")

    async with sio.running():
        client = MemoryClient(sio)
        await client.connect()
        sio.start_background_task(ticking, 0.01)
        assert await client.wait_for("42") == '42["tick"]'
        started = anyio.current_time()
    assert anyio.current_time() - started < 1  # not the shutdown's 5 s wait for handlers
    await settle()
    assert ended == ["cancelled"]


async def test_the_compat_asgi_app_takes_python_socketios_arguments(
    binding: ModuleType,
) -> None:
    socketio = compat(binding)
    sio = socketio.AsyncServer()
    app = socketio.ASGIApp(sio, None, {"/": "app.html"}, "custom")
    assert app.server is sio and app.path == "/custom/"
    assert app.static_files == {"/": Path("app.html")}
    assert socketio.ASGIApp(sio).path == "/socket.io/"


def test_compat_exceptions_are_the_servers() -> None:
    import sansio_rooms

    for name in ("sansio_rooms_asyncio", "sansio_rooms_trio"):
        module = compat(importlib.import_module(name))
        assert module.ConnectionRefusedError is sansio_rooms.CompatConnectionRefusedError
        assert issubclass(module.ConnectionRefusedError, sansio_rooms.ConnectionRefusedError)
        assert module.AsyncNamespace is sansio_rooms.CompatNamespace
    with pytest.raises(ValueError, match="ASGI"):
        compat(importlib.import_module("sansio_rooms_asyncio")).AsyncServer(async_mode="sanic")
