"""The chat example as the web tests serve it: ``examples/chat_server.py`` (loaded from its
file, as ``uvicorn chat_server:app`` does from examples/) and its page, examples/web.

The page loads ``/socket.io.min.js``: examples/web's copy when ``npm ci`` was run there
(``make serve`` does it), else tests/interop/node's (``make test`` installs that one), which
is the same pinned version of ``socket.io-client``: :func:`client_js` checks it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
WEB = EXAMPLES / "web"
INTEROP_NODE = ROOT / "tests" / "interop" / "node"
CLIENT = Path("node_modules", "socket.io-client", "dist", "socket.io.min.js")


@functools.cache
def chat_server() -> ModuleType:
    """examples/chat_server.py, imported once."""
    spec = importlib.util.spec_from_file_location("chat_server", EXAMPLES / "chat_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def client_js() -> Path:
    """The browser client the page gets: examples/web's, or the same version installed for
    the interop tests."""
    pinned = {
        folder: json.loads((folder / "package.json").read_text())["dependencies"][
            "socket.io-client"
        ]
        for folder in (WEB, INTEROP_NODE)
    }
    assert pinned[WEB] == pinned[INTEROP_NODE], f"socket.io-client pins differ: {pinned}"
    for folder in (WEB, INTEROP_NODE):
        if (folder / CLIENT).is_file():
            return folder / CLIENT
    raise AssertionError(
        "socket.io-client is not installed: `cd tests/interop/node && npm ci` (make test does it)"
    )


class ChatApp:
    """Builds the chat's ASGI app for a binding (in the server's thread) and keeps it, so that
    a test can look at the server behind it."""

    def __init__(self, binding: str) -> None:
        self.binding = binding
        self.app: Any = None

    def __call__(self) -> Any:
        self.app = chat_server().make_app(self.binding, client_js=client_js())
        return self.app

    @property
    def server(self) -> Any:
        assert self.app is not None, "the app is not built yet"
        return self.app.server

    async def stop(self) -> None:
        """What runs before the ASGI server stops: the clients are told first."""
        await self.server.shutdown()

    async def sids(self, served: Any) -> list[str]:
        """The sids of the sockets connected to the chat, read in the server's loop."""
        sockets = await served.call(self.server.of("/").fetch_sockets)
        return sorted(socket.sid for socket in sockets)
