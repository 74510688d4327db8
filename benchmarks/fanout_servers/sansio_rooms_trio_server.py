"""Fan-out benchmark server: sansio-rooms' trio binding, on its own server (``serve``).

"join" puts the socket in room "bench", "joinroom" in the room it names; both acknowledge.
"say" sends "msg" to the room the socket joined, the sender excluded. Both transports
(websocket and polling) are allowed. One process, one trio run, on 127.0.0.1. The handlers
are plain functions, as in the asyncio server (see its docstring).

``--asgi`` serves the same app on hypercorn's trio worker instead, through ASGI messages.

Usage: python sansio_rooms_trio_server.py --port P [--asgi] [--ws ignored]
"""

from __future__ import annotations

import argparse
import signal
from typing import Any

import trio

from sansio_rooms_trio import ASGIApp, AsyncServer, Socket, serve

server = AsyncServer()


@server.on("join")
def join(socket: Socket, *args: Any) -> str:
    socket.join("bench")
    socket.data["room"] = "bench"
    return "ok"


@server.on("joinroom")
def joinroom(socket: Socket, room: str, *args: Any) -> str:
    socket.join(room)
    socket.data["room"] = room
    return "ok"


@server.on("say")
def say(socket: Socket, message: Any) -> None:
    socket.to(socket.data["room"]).emit("msg", message)


app = ASGIApp(server)


async def run_asgi(port: int) -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "WARNING"
    config.websocket_max_message_size = 1_000_000
    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def on_signal() -> None:
                async for _ in signals:
                    stop.set()
                    return

            nursery.start_soon(on_signal)
            await hypercorn_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
            nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--asgi", action="store_true", help="serve on hypercorn, through ASGI")
    parser.add_argument("--ws", default="", help="ignored")
    args = parser.parse_args()
    if args.asgi:
        trio.run(run_asgi, args.port)
    else:
        trio.run(serve, app, "127.0.0.1", args.port)


if __name__ == "__main__":
    main()
