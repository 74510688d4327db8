"""Fan-out benchmark server: python-socketio's AsyncServer, ASGI on uvicorn.

"join" puts the socket in room "bench", "joinroom" in the room it names; both acknowledge.
"say" sends "msg" to the room the socket joined, the sender excluded. Both transports
(websocket and polling) are allowed. One process, one event loop (asyncio), uvicorn on
127.0.0.1, the same settings as the sansio-rooms server.

Usage: python python_socketio_server.py --port P [--ws websockets-sansio]
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import socketio
import uvicorn

sio = socketio.AsyncServer(async_mode="asgi")
room_of: dict[str, str] = {}  # sid -> the room it joined (a dict, as cheap as a session gets)


@sio.on("join")
async def join(sid: str, *args: Any) -> str:
    await sio.enter_room(sid, "bench")
    room_of[sid] = "bench"
    return "ok"


@sio.on("joinroom")
async def joinroom(sid: str, room: str, *args: Any) -> str:
    await sio.enter_room(sid, room)
    room_of[sid] = room
    return "ok"


@sio.on("say")
async def say(sid: str, message: Any) -> None:
    await sio.emit("msg", message, room=room_of[sid], skip_sid=sid)


@sio.on("disconnect")
async def disconnect(sid: str, *args: Any) -> None:
    room_of.pop(sid, None)


app = socketio.ASGIApp(sio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ws", default="websockets-sansio", help="uvicorn's ws implementation")
    args = parser.parse_args()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="asyncio",
        http="h11",
        ws=args.ws,
        log_level="warning",
    )
    profile = os.environ.get("FANOUT_CPROFILE")  # a path: write cProfile stats there
    if not profile:
        uvicorn.Server(config).run()
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        uvicorn.Server(config).run()
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


if __name__ == "__main__":
    main()
