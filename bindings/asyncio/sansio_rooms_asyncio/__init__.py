"""sansio-rooms for asyncio: a Socket.IO server whose protocol and rooms are the sans-IO core.

server = AsyncServer()

@server.on("connect")
async def connect(socket, auth): ...

app = ASGIApp(server)          # uvicorn module:app
"""

from sansio_rooms import ConnectionRefusedError as ConnectionRefusedError

from ._asgi import ASGIApp as ASGIApp
from ._operator import AckTimeoutError as AckTimeoutError
from ._operator import BroadcastOperator as BroadcastOperator
from ._server import AsyncServer as AsyncServer
from ._socket import Handshake as Handshake
from ._socket import Socket as Socket
from ._transport import Connection as Connection

__all__ = [
    "ASGIApp",
    "AckTimeoutError",
    "AsyncServer",
    "BroadcastOperator",
    "Connection",
    "ConnectionRefusedError",
    "Handshake",
    "Socket",
]
