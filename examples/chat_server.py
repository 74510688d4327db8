"""The chat server: a Socket.IO app on the asyncio binding (rooms from the in-memory engine).

Events: ``join(name, room)`` (ack: the people already there), ``say(room, text)``,
``whisper(sid, text)``. When someone leaves, the others in their rooms are told while the
leaver's rooms are still intact (the *disconnecting* phase).

Serve it alone with ``make serve`` (a page for a person to try, at http://127.0.0.1:8000/),
or let ``make demo`` drive it with a few real clients. The same code runs on either binding:
asyncio (uvicorn) by default, trio (hypercorn's trio worker) with ``SANSIO_ROOMS_BINDING=trio``.

With ``SANSIO_ROOMS_REDIS=redis://host:port`` the server is one of a cluster: several of them
(and Node servers with ``@socket.io/redis-adapter``) share their rooms through that Redis, and
nothing else in this file changes (``make cluster-demo`` runs two of them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

if os.environ.get("SANSIO_ROOMS_BINDING") == "trio":
    from sansio_rooms_trio import ASGIApp, AsyncServer, RedisAdapter, Socket
else:
    from sansio_rooms_asyncio import ASGIApp, AsyncServer, RedisAdapter, Socket

WEB = Path(__file__).resolve().parent / "web"
REDIS = os.environ.get("SANSIO_ROOMS_REDIS")

server = AsyncServer(adapter=RedisAdapter(REDIS) if REDIS else None)


@server.on("connect")
async def connect(socket: Socket, auth: Any) -> None:
    name = auth.get("name") if isinstance(auth, dict) else None
    socket.data["name"] = str(name or socket.sid[:6])


@server.on("join")
async def join(socket: Socket, room: str) -> list[str]:
    here = [s.data["name"] for s in await server.in_(room).fetch_sockets()]
    socket.join(room)
    await socket.to(room).emit("joined", {"room": room, "name": socket.data["name"]})
    return here


@server.on("say")
async def say(socket: Socket, room: str, text: str) -> None:
    await socket.to(room).emit("message", {"room": room, "from": socket.data["name"], "text": text})


@server.on("whisper")
async def whisper(socket: Socket, sid: str, text: str) -> None:
    await server.to(sid).emit("whisper", {"from": socket.data["name"], "text": text})


@server.on("disconnecting")
async def disconnecting(socket: Socket, reason: str) -> None:
    rooms = [room for room in socket.rooms if room != socket.sid]
    if rooms:
        await socket.to(rooms).emit("left", {"name": socket.data["name"], "reason": reason})


def make_app() -> ASGIApp:
    static = {
        "/": WEB / "index.html",
        "/socket.io.min.js": WEB
        / "node_modules"
        / "socket.io-client"
        / "dist"
        / "socket.io.min.js",
    }
    return ASGIApp(server, static_files=static)


app = make_app()
