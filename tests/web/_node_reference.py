"""Node's Socket.IO server, the reference the web tests compare the server under test with.

The server under test runs on tests/interop's ASGI servers (``_interop_bindings.serve_app``:
any ASGI app on uvicorn or on hypercorn's trio worker); :meth:`_web_clients.Web.serve` starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from _interop_bindings import HOST, START_TIMEOUT, STOP_TIMEOUT
from _interop_clients import NODE_DIR

REFERENCE_SERVER = Path(__file__).parent / "node" / "reference_server.cjs"


@dataclass(frozen=True)
class NodeReference:
    """Node's Socket.IO server, running."""

    url: str
    #: ``await close()``: ``io.close()``, as an application stops it.
    close: Callable[[], Awaitable[None]]


@contextlib.asynccontextmanager
async def serve_node_reference(node: str, scenario: str) -> AsyncIterator[NodeReference]:
    """Node's Socket.IO server (``node/reference_server.cjs``) set up as ``scenario`` says.
    Its stderr is in the error if it fails to start."""
    environment = {**os.environ, "NODE_PATH": str(NODE_DIR / "node_modules")}
    process = await asyncio.create_subprocess_exec(
        node,
        str(REFERENCE_SERVER),
        scenario,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
            port = json.loads(line)["port"]
        except (TimeoutError, ValueError, KeyError):
            process.kill()
            assert process.stderr is not None
            stderr = (await process.stderr.read()).decode(errors="replace")
            raise RuntimeError(f"the Node reference server did not start:\n{stderr}") from None

        async def close() -> None:
            assert process.stdin is not None
            process.stdin.write(b"close\n")
            await process.stdin.drain()

        yield NodeReference(f"http://{HOST}:{port}", close)
    finally:
        if process.returncode is None:
            process.stdin.close()  # it ends when its stdin closes
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
