"""python-socketio's server API on the asyncio server, for code written against python-socketio::

    from sansio_rooms_asyncio import compat as socketio

    sio = socketio.AsyncServer(async_mode="asgi")

    @sio.on("chat")
    async def chat(sid, text):
        await sio.emit("chat", text, room="lobby", skip_sid=sid)

    app = socketio.ASGIApp(sio)              # uvicorn module:app

Handlers get the client's ``sid`` (``connect``: ``(sid, environ[, auth])``,
``disconnect``: ``(sid[, reason])``, ``"*"``: ``(event, sid, *args)``); ``emit``, ``send``
and ``call`` take python-socketio's ``data`` (a tuple: several arguments).
``AsyncNamespace`` is python-socketio's class-based namespace. Everything else is the
server's own API (``sio.to(room).emit(...)``, ...). What differs: docs/porting.md.
"""

from sansio_rooms import CompatASGIApp, CompatServer
from sansio_rooms import CompatConnectionRefusedError as ConnectionRefusedError
from sansio_rooms import CompatNamespace as AsyncNamespace

from . import _asgi, _server

__all__ = ["ASGIApp", "AsyncNamespace", "AsyncServer", "ConnectionRefusedError"]


class AsyncServer(CompatServer, _server.AsyncServer):
    """python-socketio's ``AsyncServer`` (see :class:`sansio_rooms.CompatServer`)."""


class ASGIApp(CompatASGIApp, _asgi.ASGIApp):
    """python-socketio's ``ASGIApp(socketio_server, other_asgi_app=None, static_files=None,
    socketio_path="socket.io")``."""
