"""sansio-rooms for asyncio: a Socket.IO server whose protocol and rooms are the sans-IO core::

    server = AsyncServer()

    @server.on("connect")
    async def connect(socket, auth): ...

    app = ASGIApp(server)          # uvicorn module:app

See docs/asyncio.md.
"""

from sansio_rooms import AckTimeoutError as AckTimeoutError
from sansio_rooms import BroadcastOperator as BroadcastOperator
from sansio_rooms import ConnectionRefusedError as ConnectionRefusedError
from sansio_rooms import EngineIOSession as EngineIOSession
from sansio_rooms import Handshake as Handshake
from sansio_rooms import HandshakeRequest as HandshakeRequest
from sansio_rooms import ParentOperator as ParentOperator
from sansio_rooms import ServerNamespace as ServerNamespace
from sansio_rooms import Socket as Socket

from ._asgi import ASGIApp as ASGIApp
from ._native import serve as serve
from ._redis import RedisAdapter as RedisAdapter
from ._redis_streams import RedisStreamsAdapter as RedisStreamsAdapter
from ._server import AsyncEngineIOServer as AsyncEngineIOServer
from ._server import AsyncServer as AsyncServer
from ._transport import Connection as Connection

__all__ = [
    "ASGIApp",
    "AckTimeoutError",
    "AsyncEngineIOServer",
    "AsyncServer",
    "BroadcastOperator",
    "Connection",
    "ConnectionRefusedError",
    "EngineIOSession",
    "Handshake",
    "HandshakeRequest",
    "ParentOperator",
    "RedisAdapter",
    "RedisStreamsAdapter",
    "ServerNamespace",
    "Socket",
    "serve",
]

#: The version of this package, as its pyproject.toml says (a test checks they agree).
__version__ = "0.1.0.dev0"
