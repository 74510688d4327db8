"""Cluster benchmark server: sansio-rooms' trio binding with its Redis adapter, on hypercorn's
trio worker.

"join" puts the socket in room "bench" and acknowledges; "say" sends "msg" to the room, the
sender excluded: to this server's members directly, and through Redis to the other servers'.
One process, one trio run, hypercorn on 127.0.0.1 (the fan-out benchmark's settings); the ASGI
lifespan runs the server and joins the cluster.

Usage: python sansio_rooms_trio_server.py --port P --redis URL [--ws ignored]
"""

from __future__ import annotations

import argparse
import signal
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from sansio_rooms_trio import ASGIApp, AsyncServer, RedisAdapter, Socket


def make_app(redis_url: str) -> ASGIApp:
    server = AsyncServer(adapter=RedisAdapter(redis_url))

    @server.on("join")
    async def join(socket: Socket, *args: Any) -> str:
        socket.join("bench")
        return "ok"

    @server.on("say")
    async def say(socket: Socket, message: Any) -> None:
        await socket.to("bench").emit("msg", message)

    return ASGIApp(server)


async def run(port: int, redis_url: str) -> None:
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "WARNING"
    config.websocket_max_message_size = 1_000_000
    app = make_app(redis_url)
    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def on_signal() -> None:
                async for _ in signals:
                    stop.set()
                    return

            nursery.start_soon(on_signal)
            await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
            nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True, help="redis://host:port")
    parser.add_argument("--ws", default="", help="ignored: hypercorn has one implementation")
    args = parser.parse_args()
    trio.run(run, args.port, args.redis)


if __name__ == "__main__":
    main()
