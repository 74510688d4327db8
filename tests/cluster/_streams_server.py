"""A server of this project on the Redis Streams adapter, with connection state recovery, for
the recovery tests across a cluster (``test_streams_recovery.py``): driven by JSON lines.

    python tests/cluster/_streams_server.py --binding asyncio|trio --redis URL --window SECONDS

The twin of ``node/streams_server.cjs`` (its header says what both do), on the binding's
native server. The reply to ``broadcast`` comes once the adapter's writer has run the XADD
(``flush``), so the broadcast is in the stream and delivered here.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

import anyio

from sansio_rooms import ConnectionStateRecovery

_lock = threading.Lock()


def out(message: dict[str, Any]) -> None:
    with _lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def event(name: str, **fields: Any) -> None:
    out({"event": name, **fields})


async def run(options: argparse.Namespace) -> None:
    stop: Any
    if options.binding == "asyncio":
        import asyncio

        import sansio_rooms_asyncio as binding

        stop = asyncio.Event()
    else:
        import trio

        import sansio_rooms_trio as binding

        stop = trio.Event()
    adapter = binding.RedisStreamsAdapter(options.redis, block_ms=1000, retry_delay=(0.05, 0.2))
    server = binding.AsyncServer(
        adapter=adapter,
        connection_state_recovery=ConnectionStateRecovery(
            max_disconnection_duration=options.window
        ),
    )

    @server.on("connect")
    async def connect(socket: Any, auth: Any) -> None:
        auth = auth if isinstance(auth, dict) else {}
        if not socket.recovered:
            socket.data = {"name": auth.get("name")}
            socket.join(auth.get("rooms") or [])
        event(
            "connection",
            sid=socket.sid,
            recovered=socket.recovered,
            rooms=sorted(room for room in socket.rooms if room != socket.sid),
            in_own_room=socket.sid in socket.rooms,
            data=socket.data,
        )

    @server.on("disconnect")
    def disconnect(socket: Any, reason: str) -> None:
        event("disconnect", sid=socket.sid, reason=reason)

    async def broadcast(command: dict[str, Any]) -> Any:
        operator = server.of("/")
        if command.get("volatile"):
            operator = operator.volatile
        if command.get("rooms"):
            operator = operator.to(command["rooms"])
        operator.emit(command["event"], *command.get("args", []))
        await adapter.flush()
        return None

    async def broadcast_with_ack(command: dict[str, Any]) -> Any:
        operator = server.of("/").timeout(command.get("timeout_ms", 1000) / 1000)
        if command.get("rooms"):
            operator = operator.to(command["rooms"])
        try:
            responses = await operator.emit_with_ack(command["event"], *command.get("args", []))
        except Exception as error:
            return {"responses": list(getattr(error, "responses", ())), "error": str(error)}
        return {"responses": responses, "error": None}

    commands = {"broadcast": broadcast, "broadcast_with_ack": broadcast_with_ack}

    async def execute(command: dict[str, Any]) -> None:
        try:
            result = await commands[command["op"]](command)
        except Exception as error:
            out({"id": command.get("id"), "error": f"{type(error).__name__}: {error}"})
        else:
            out({"id": command["id"], "result": result})

    def ready(addresses: list[tuple[str, int]]) -> None:
        event("ready", port=addresses[0][1])

    async with anyio.create_task_group() as group:
        app = binding.ASGIApp(server)
        group.start_soon(
            lambda: binding.serve(app, "127.0.0.1", 0, ready=ready, stop=stop, handle_signals=False)
        )
        while True:
            line = await anyio.to_thread.run_sync(sys.stdin.readline)
            if not line:
                break
            command = json.loads(line)
            if command.get("op") == "quit":
                out({"id": command.get("id"), "result": None})
                break
            if command.get("op") not in commands:
                out({"id": command.get("id"), "error": f"unknown op {command.get('op')!r}"})
                continue
            group.start_soon(execute, command)
        stop.set()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binding", choices=("asyncio", "trio"), required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--window", type=float, default=2.0)
    options = parser.parse_args()
    anyio.run(run, options, backend=options.binding)


if __name__ == "__main__":
    main()
