"""``make demo``: the chat server, driven by real Socket.IO clients.

Starts ``examples/chat_server.py`` on a loopback port — on uvicorn with the asyncio binding,
or with ``--trio`` on hypercorn with the trio binding — connects four python-socketio clients
(two over WebSocket, one upgrading from long-polling, one on long-polling only), has them join
rooms and talk, then one leaves; every message each client receives is printed as it arrives.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import Any

import socketio

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def person(url: str, name: str, transports: list[str]) -> socketio.AsyncClient:
    client = socketio.AsyncClient()

    def show(kind: str) -> Any:
        def handler(data: dict[str, Any]) -> None:
            print(f"  {name:>4} <- {kind}: {data}")

        return handler

    for kind in ("joined", "message", "whisper", "left"):
        client.on(kind, show(kind))
    await client.connect(url, auth={"name": name}, transports=transports)
    print(f"  {name:>4} connected over {client.transport()} as {client.get_sid()}")
    return client


async def pause() -> None:
    await asyncio.sleep(0.2)  # let the messages arrive, so that the transcript reads in order


async def start_server(port: int, trio: bool, **env_vars: str) -> asyncio.subprocess.Process:
    """``chat_server.py`` on ``port`` (trio: on hypercorn), with these extra environment
    variables (``SANSIO_ROOMS_REDIS``: one of a cluster)."""
    bin_dir = Path(sys.executable).parent
    if trio:
        command = [str(bin_dir / "hypercorn"), "-k", "trio", "--bind", f"127.0.0.1:{port}"]
    else:
        command = [str(bin_dir / "uvicorn"), "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "SANSIO_ROOMS_BINDING": "trio" if trio else "asyncio", **env_vars}
    process = await asyncio.create_subprocess_exec(
        *command, "--log-level", "warning", "chat_server:app", cwd=HERE, env=env
    )
    for _ in range(100):  # at most 10 s
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
        else:
            writer.close()
            await writer.wait_closed()
            return process
    process.kill()
    raise RuntimeError("the chat server did not start")


async def main(trio: bool) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = await start_server(port, trio)
    binding = "trio binding on hypercorn" if trio else "asyncio binding on uvicorn"
    print(f"== chat server on {url} (sansio-rooms, {binding}, in-memory rooms)")
    try:
        await talk(url)
    finally:
        server.terminate()
        await server.wait()
    print("== done")


async def talk(url: str) -> None:
    ann = await person(url, "ann", ["websocket"])
    bob = await person(url, "bob", ["polling", "websocket"])
    cid = await person(url, "cid", ["websocket"])
    dee = await person(url, "dee", ["polling"])

    print("== joining rooms (the ack lists who was already there)")
    for client, name, room in [
        (ann, "ann", "python"),
        (bob, "bob", "python"),
        (cid, "cid", "trio"),
        (ann, "ann", "trio"),
        (dee, "dee", "python"),
    ]:
        answer = await client.call("join", room, timeout=5)
        here = [m["name"] for m in answer["members"] if m["sid"] != client.get_sid()]
        print(f"  {name:>4} joined {room}, already there: {here}")
        await pause()

    print("== ann talks to python and trio (each hears it once)")
    await ann.emit("say", ("python", "hi pythonistas"))
    await ann.emit("say", ("trio", "hi trio folks"))
    await pause()
    print("== bob whispers to cid")
    await bob.emit("whisper", (cid.get_sid(), "psst"))
    await pause()
    print("== ann leaves: her rooms are told while she is disconnecting")
    await ann.disconnect()
    await pause()
    await dee.emit("say", ("python", "bye ann"))
    await pause()
    for client in (bob, cid, dee):
        await client.disconnect()


if __name__ == "__main__":
    asyncio.run(main(trio="--trio" in sys.argv[1:]))
