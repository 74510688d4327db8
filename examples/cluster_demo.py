"""``make cluster-demo``: two chat servers sharing their rooms through Redis, and an emitter.

Starts ``examples/chat_server.py`` twice, on two loopback ports, both told to use the same
Redis (``--redis``, default the local one at ``redis://127.0.0.1:6379/0``): one on uvicorn with
the asyncio binding, the other on hypercorn with the trio binding. A python-socketio client
connects to each; they join a room, talk and whisper across the two servers. Then
``examples/cluster_emitter.py`` — a plain script, not a server — announces into the room
through Redis with the synchronous emitter. Every message each client receives is printed
as it arrives, with the server it is connected to.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import socketio
from chat_demo import free_port, pause, start_server

HERE = Path(__file__).resolve().parent


async def person(url: str, name: str, where: str) -> socketio.AsyncClient:
    client = socketio.AsyncClient()

    def show(kind: str) -> Any:
        def handler(data: dict[str, Any]) -> None:
            print(f"  {name:>4} (on {where}) <- {kind}: {data}")

        return handler

    for kind in ("joined", "message", "whisper", "left", "announcement"):
        client.on(kind, show(kind))
    await client.connect(url, auth={"name": name}, transports=["websocket"])
    print(f"  {name:>4} connected to the {where} server as {client.get_sid()}")
    return client


async def main(redis_url: str) -> None:
    ports = {"asyncio": free_port(), "trio": free_port()}
    print(f"== two chat servers sharing rooms through Redis at {redis_url}")
    servers = [
        await start_server(port, name == "trio", SANSIO_ROOMS_REDIS=redis_url)
        for name, port in ports.items()
    ]
    try:
        for name, port in ports.items():
            print(f"  {name} binding on http://127.0.0.1:{port}")
        await talk(ports, redis_url)
    finally:
        for process in servers:
            process.terminate()
        for process in servers:
            await process.wait()
    print("== done")


async def talk(ports: dict[str, int], redis_url: str) -> None:
    ann = await person(f"http://127.0.0.1:{ports['asyncio']}", "ann", "asyncio")
    bob = await person(f"http://127.0.0.1:{ports['trio']}", "bob", "trio")
    cid = await person(f"http://127.0.0.1:{ports['trio']}", "cid", "trio")

    print("== joining 'python' (the ack lists who was already there, on either server)")
    for client, name in [(ann, "ann"), (bob, "bob"), (cid, "cid")]:
        answer = await client.call("join", "python", timeout=5)
        here = [m["name"] for m in answer["members"] if m["sid"] != client.get_sid()]
        print(f"  {name:>4} joined python, already there: {here}")
        await pause()

    print("== ann (asyncio server) talks to the room: bob and cid (trio server) hear it once")
    await ann.emit("say", ("python", "hello from the asyncio side"))
    await pause()
    print("== bob whispers to ann, across the servers")
    await bob.emit("whisper", (ann.get_sid(), "psst, from trio"))
    await pause()
    print("== a script that is not a server announces into the room (the emitter)")
    emitter = [sys.executable, str(HERE / "cluster_emitter.py"), redis_url, "python"]
    subprocess.run([*emitter, "the build is green"], check=True)
    await pause()
    print("== ann leaves: the room is told on both servers")
    await ann.disconnect()
    await pause()
    for client in (bob, cid):
        await client.disconnect()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="the shared Redis")
    asyncio.run(main(parser.parse_args().redis))
