"""The chat server: a Socket.IO app on the asyncio or trio binding (rooms from the core engine).

What a client sends, and what it gets back as the acknowledgement: a dict with ``ok``, and
``error`` (a sentence for a person) when the server refused:

* ``join(room)``: ``{"ok", "room", "members"}``, every member's ``{"sid", "name"}``, the
  joiner's included. Joining a room you are in changes nothing; a socket's own id room is no
  room to join (it would let you read someone's whispers).
* ``leave(room)``: ``{"ok", "room"}``; refused for a room you are not in.
* ``say(room, text)``: ``{"ok"}``; refused for a room you are not in (nobody hears it).
* ``whisper(sid, text)``: ``{"ok", "to"}`` (the other's name): to one connected person only.

What the server sends: ``members({"room", "members"})`` to everyone in a room whenever its
membership changes; ``joined`` and ``left`` (``{"room", "sid", "name"}``, and for ``left`` a
``reason``: ``leave``, or why the connection ended); ``message({"room", "sid", "from",
"text"})``; ``whisper({"sid", "from", "text"})``. When someone disconnects, their rooms are
told while those are still intact (the *disconnecting* phase).

Serve it with ``make serve`` (a page for a person to try, at http://127.0.0.1:8000/;
``PORT=8050`` for another port), or let ``make demo`` drive it with a few real clients. The
same code runs on either binding: asyncio (uvicorn) by default, trio (hypercorn's trio
worker) with ``SANSIO_ROOMS_BINDING=trio``.

With ``SANSIO_ROOMS_REDIS=redis://host:port`` the server is one of a cluster: several of them
(and Node servers with ``@socket.io/redis-adapter``) share their rooms through that Redis, and
nothing else in this file changes (``make cluster-demo`` runs two of them).
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any

from sansio_rooms import ServerNamespace

WEB = Path(__file__).resolve().parent / "web"
#: The browser client, installed by ``make serve`` (``npm ci`` in examples/web).
CLIENT_JS = WEB / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
#: The Socket.IO Admin UI (npm @socket.io/admin-ui), served at /admin-ui/ (offline).
ADMIN_UI = WEB / "node_modules" / "@socket.io" / "admin-ui" / "ui" / "dist"
# The Admin UI's page loads its icon font from a CDN and Roboto from Google Fonts: the page is
# served with the icons from npm (@mdi/font, pinned in web/package.json) and without the web
# font (the browser's sans-serif), so that the dashboard works offline.
ICONS = WEB / "node_modules" / "@mdi" / "font"
ICONS_CDN = "https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/materialdesignicons.min.css"
OFFLINE_ADMIN_PAGE = WEB / "node_modules" / ".admin-ui-offline.html"

MAX_NAME = 32
MAX_ROOM = 64
MAX_TEXT = 2000


def refused(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


def cleaned(value: Any, longest: int) -> str | None:
    """``value`` as a name or a text a person can read: a string, stripped, not empty, at most
    ``longest`` characters; ``None`` otherwise (a client may send anything)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if 0 < len(value) <= longest else None


def is_member(socket: Any, room: Any) -> bool:
    """Whether ``socket`` is in ``room``, a room it joined (its own id room is not one)."""
    return isinstance(room, str) and room != socket.sid and room in socket.rooms


def person(socket: Any) -> dict[str, str]:
    """What the others see of a socket: its id and its name (a socket of another server of
    the cluster carries its ``data`` as a plain dict too)."""
    data = socket.data if isinstance(socket.data, dict) else {}
    return {"sid": socket.sid, "name": str(data.get("name", socket.sid[:6]))}


class Chat(ServerNamespace):
    """The chat's handlers; ``self.server`` is the binding's server."""

    async def members(self, room: str, *, without: str | None = None) -> list[dict[str, str]]:
        """The people in ``room`` (on every server of a cluster), by name, ``without`` one."""
        sockets = await self.server.in_(room).fetch_sockets()
        people = [person(s) for s in sockets if s.sid != without]
        return sorted(people, key=lambda p: (p["name"], p["sid"]))

    async def is_socket_id(self, room: str) -> bool:
        """Whether ``room`` is the id room of a connected socket (its own, private room)."""
        return any(s.sid == room for s in await self.server.in_(room).fetch_sockets())

    async def on_connect(self, socket: Any, auth: Any) -> None:
        name = cleaned(auth.get("name"), MAX_NAME) if isinstance(auth, dict) else None
        socket.data["name"] = name or socket.sid[:6]

    async def on_join(self, socket: Any, room: Any) -> dict[str, Any]:
        wanted = cleaned(room, MAX_ROOM)
        if wanted is None:
            return refused(f"a room's name is 1 to {MAX_ROOM} characters")
        if wanted == socket.sid:
            return refused("that is your own private room")
        if wanted in socket.rooms:  # joined already: nobody is told, nobody listed twice
            return {"ok": True, "room": wanted, "members": await self.members(wanted)}
        if await self.is_socket_id(wanted):
            return refused("that is someone's private room")
        socket.join(wanted)
        await socket.to(wanted).emit("joined", {"room": wanted, **person(socket)})
        members = await self.members(wanted)
        await self.server.to(wanted).emit("members", {"room": wanted, "members": members})
        return {"ok": True, "room": wanted, "members": members}

    async def on_leave(self, socket: Any, room: Any) -> dict[str, Any]:
        if not is_member(socket, room):
            return refused(f"you are not in {room}")
        socket.leave(room)
        await socket.to(room).emit("left", {"room": room, **person(socket), "reason": "leave"})
        members = await self.members(room)
        await self.server.to(room).emit("members", {"room": room, "members": members})
        return {"ok": True, "room": room}

    async def on_say(self, socket: Any, room: Any, text: Any) -> dict[str, Any]:
        if not is_member(socket, room):
            return refused(f"you are not in {room}: join it first")
        said = cleaned(text, MAX_TEXT)
        if said is None:
            return refused(f"a message is 1 to {MAX_TEXT} characters")
        sender = person(socket)
        message = {"room": room, "sid": sender["sid"], "from": sender["name"], "text": said}
        await socket.to(room).emit("message", message)
        return {"ok": True}

    async def on_whisper(self, socket: Any, sid: Any, text: Any) -> dict[str, Any]:
        if sid == socket.sid:
            return refused("that is you")
        said = cleaned(text, MAX_TEXT)
        if said is None:
            return refused(f"a message is 1 to {MAX_TEXT} characters")
        # Only a socket's id room reaches one person: a room's name is not a whisper.
        targets = []
        if isinstance(sid, str) and sid:
            targets = [s for s in await self.server.in_(sid).fetch_sockets() if s.sid == sid]
        if not targets:
            return refused("nobody with that id is connected")
        sender = person(socket)
        whisper = {"sid": sender["sid"], "from": sender["name"], "text": said}
        await self.server.to(sid).emit("whisper", whisper)
        return {"ok": True, "to": person(targets[0])["name"]}

    async def on_disconnecting(self, socket: Any, reason: str) -> None:
        # The rooms are read before the first await: they are intact only until then.
        rooms = sorted(room for room in socket.rooms if room != socket.sid)
        gone = person(socket)
        for room in rooms:
            await socket.to(room).emit("left", {"room": room, **gone, "reason": reason})
            members = await self.members(room, without=socket.sid)
            await socket.to(room).emit("members", {"room": room, "members": members})


def offline_admin_page() -> Path | None:
    """The Admin UI's index.html with its icon font served here and no Google font, written
    beside the npm packages (once per start: the packages may have changed); ``None`` when the
    page's packages are not installed (``make serve`` installs them)."""
    if not (ADMIN_UI / "index.html").is_file():
        return None
    page = (ADMIN_UI / "index.html").read_text(encoding="utf-8")
    page = page.replace(ICONS_CDN, "mdi/css/materialdesignicons.min.css")
    page = re.sub(r'<link rel="stylesheet" href="https://fonts\.googleapis\.com/[^"]*">', "", page)
    OFFLINE_ADMIN_PAGE.write_text(page, encoding="utf-8")
    return OFFLINE_ADMIN_PAGE


def static_files(client_js: Path = CLIENT_JS) -> dict[str, Path]:
    admin_ui = {
        f"/admin-ui/{file.relative_to(ADMIN_UI).as_posix()}": file
        for file in sorted(ADMIN_UI.rglob("*"))
        if file.is_file()
    }
    icons = {
        f"/admin-ui/mdi/{file.relative_to(ICONS).as_posix()}": file
        for folder in ("css", "fonts")
        for file in sorted((ICONS / folder).glob("*"))  # nothing when not installed
        if file.is_file()
    }
    page = offline_admin_page()
    pages = {} if page is None else {"/admin-ui/": page, "/admin-ui/index.html": page}
    return {
        "/": WEB / "index.html",
        "/favicon.ico": WEB / "favicon.ico",
        "/socket.io.min.js": client_js,
        **admin_ui,
        **icons,
        **pages,
    }


def make_app(
    binding: str = "asyncio", *, redis: str | None = None, client_js: Path = CLIENT_JS
) -> Any:
    """The chat as an ASGI app of ``binding`` (``asyncio`` or ``trio``), one of a cluster on
    ``redis`` when given; ``client_js`` is the browser client the page loads."""
    api = importlib.import_module(f"sansio_rooms_{binding}")
    server = api.AsyncServer(adapter=api.RedisAdapter(redis) if redis else None)
    server.register_namespace(Chat("/"))
    # The Admin UI (/admin-ui/, server URL http://127.0.0.1:8000): no login, a local demo only.
    server.instrument(auth=False)
    return api.ASGIApp(server, static_files=static_files(client_js))


app = make_app(
    os.environ.get("SANSIO_ROOMS_BINDING", "asyncio"), redis=os.environ.get("SANSIO_ROOMS_REDIS")
)
