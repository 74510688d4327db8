"""sansio-rooms: Socket.IO's rooms as a pure Sans-IO state machine.

Everything public is re-exported here; the private modules each declare their ``__all__``.
"""

from ._admin import AdminUI as AdminUI
from ._app import ConnectionRefusedError as ConnectionRefusedError
from ._app import Handlers as Handlers
from ._app import NamespaceKey as NamespaceKey
from ._app import Selection as Selection
from ._app import ServerNamespace as ServerNamespace
from ._app import namespace_key as namespace_key
from ._app import parse_query as parse_query
from ._asgi import NO_LIFESPAN as NO_LIFESPAN
from ._asgi import ASGIAppBase as ASGIAppBase
from ._asgi import GatheredResponse as GatheredResponse
from ._asgi import OtherLifespan as OtherLifespan
from ._asgi import PendingResponse as PendingResponse
from ._asgi import PreparedFrame as PreparedFrame
from ._asgi import respond as respond
from ._cluster import ClusterMachine as ClusterMachine
from ._cluster_driver import ClusterAdapter as ClusterAdapter
from ._cluster_driver import ClusterHealth as ClusterHealth
from ._cluster_driver import ClusterRequestTimeout as ClusterRequestTimeout
from ._cluster_driver import ClusterUnavailableError as ClusterUnavailableError
from ._cluster_driver import RemoteSocket as RemoteSocket
from ._cluster_driver import StreamsAdapter as StreamsAdapter
from ._cluster_outputs import ClusterOutput as ClusterOutput
from ._cluster_outputs import MessageDropped as MessageDropped
from ._cluster_outputs import Publish as Publish
from ._cluster_outputs import RedisCommand as RedisCommand
from ._cluster_outputs import RequestCompleted as RequestCompleted
from ._cluster_outputs import ServerSideEvent as ServerSideEvent
from ._cluster_outputs import Subscribe as Subscribe
from ._cluster_outputs import Unsubscribe as Unsubscribe
from ._cluster_streams import SessionRestore as SessionRestore
from ._cluster_streams import StreamsMode as StreamsMode
from ._cluster_wire import EMITTER_UID as EMITTER_UID
from ._cluster_wire import ClusterMessageType as ClusterMessageType
from ._cluster_wire import RequestType as RequestType
from ._compat import SidMethods as SidMethods
from ._compat_server import CompatASGIApp as CompatASGIApp
from ._compat_server import CompatConnectionRefusedError as CompatConnectionRefusedError
from ._compat_server import CompatNamespace as CompatNamespace
from ._compat_server import CompatServer as CompatServer
from ._compat_server import wsgi_environ as wsgi_environ
from ._driver import AckTimeoutError as AckTimeoutError
from ._driver import BroadcastOperator as BroadcastOperator
from ._driver import Handshake as Handshake
from ._driver import ParentOperator as ParentOperator
from ._driver import ServerDriver as ServerDriver
from ._driver import Socket as Socket
from ._emitter import AsyncEmitter as AsyncEmitter
from ._emitter import AsyncEmitterOperator as AsyncEmitterOperator
from ._emitter import Emitter as Emitter
from ._emitter import EmitterOperator as EmitterOperator
from ._engine import Namespace as Namespace
from ._engine import RoomEngine as RoomEngine
from ._engine import default_id_factory as default_id_factory
from ._engineio import RECORD_SEPARATOR as RECORD_SEPARATOR
from ._engineio import EioPacket as EioPacket
from ._engineio import EioPacketType as EioPacketType
from ._engineio import HttpError as HttpError
from ._engineio import decode_packet as decode_packet
from ._engineio import decode_payload as decode_payload
from ._engineio import encode_packet as encode_packet
from ._engineio import encode_payload as encode_payload
from ._engineio import handshake_packet as handshake_packet
from ._engineio import http_error_body as http_error_body
from ._engineio_driver import ENGINEIO_EVENTS as ENGINEIO_EVENTS
from ._engineio_driver import EngineIODriver as EngineIODriver
from ._engineio_driver import EngineIOSession as EngineIOSession
from ._engineio_server import SESSION_TRANSITIONS as SESSION_TRANSITIONS
from ._engineio_server import EngineIOServer as EngineIOServer
from ._engineio_server import HttpRequest as HttpRequest
from ._engineio_server import HttpResponse as HttpResponse
from ._engineio_server import MessageReceived as MessageReceived
from ._engineio_server import SessionClosed as SessionClosed
from ._engineio_server import SessionOpened as SessionOpened
from ._engineio_server import SessionState as SessionState
from ._engineio_server import TransportOutput as TransportOutput
from ._engineio_server import WebSocketAccept as WebSocketAccept
from ._engineio_server import WebSocketClose as WebSocketClose
from ._engineio_server import WebSocketReject as WebSocketReject
from ._engineio_server import WebSocketSend as WebSocketSend
from ._errors import DuplicateSocketError as DuplicateSocketError
from ._errors import InvalidRoomError as InvalidRoomError
from ._errors import InvalidStateError as InvalidStateError
from ._errors import LocalProtocolError as LocalProtocolError
from ._errors import RemoteProtocolError as RemoteProtocolError
from ._errors import SansioRoomsError as SansioRoomsError
from ._errors import UnknownSocketError as UnknownSocketError
from ._events import Accept as Accept
from ._events import Ack as Ack
from ._events import BeginDisconnect as BeginDisconnect
from ._events import CloseRoom as CloseRoom
from ._events import Connect as Connect
from ._events import Disconnect as Disconnect
from ._events import DisconnectSockets as DisconnectSockets
from ._events import Emit as Emit
from ._events import EmitWithAck as EmitWithAck
from ._events import Event as Event
from ._events import FinishDisconnect as FinishDisconnect
from ._events import Join as Join
from ._events import Leave as Leave
from ._events import Refuse as Refuse
from ._events import SocketsJoin as SocketsJoin
from ._events import SocketsLeave as SocketsLeave
from ._events import TimePassed as TimePassed
from ._names import Room as Room
from ._names import RoomsArg as RoomsArg
from ._names import normalize_namespace as normalize_namespace
from ._names import normalize_room as normalize_room
from ._names import normalize_rooms as normalize_rooms
from ._outputs import AckCompleted as AckCompleted
from ._outputs import AckReceived as AckReceived
from ._outputs import Connected as Connected
from ._outputs import Deliveries as Deliveries
from ._outputs import Output as Output
from ._outputs import RoomCreated as RoomCreated
from ._outputs import RoomDeleted as RoomDeleted
from ._outputs import RoomJoined as RoomJoined
from ._outputs import RoomLeft as RoomLeft
from ._outputs import SocketDisconnected as SocketDisconnected
from ._outputs import SocketDisconnecting as SocketDisconnecting
from ._recovery import RECOVERABLE_DISCONNECT_REASONS as RECOVERABLE_DISCONNECT_REASONS
from ._recovery import ConnectionStateRecovery as ConnectionStateRecovery
from ._recovery import PacketLog as PacketLog
from ._recovery import RecoveredState as RecoveredState
from ._recovery import RecoverySession as RecoverySession
from ._recovery import RecoveryStore as RecoveryStore
from ._recovery import RestoredSession as RestoredSession
from ._requests import HandshakeRequest as HandshakeRequest
from ._requests import OriginPolicy as OriginPolicy
from ._requests import TrustedProxies as TrustedProxies
from ._requests import parse_cookies as parse_cookies
from ._requests import request_from_scope as request_from_scope
from ._resp import RespError as RespError
from ._resp import RespParser as RespParser
from ._resp import encode_command as encode_command
from ._server import ConnectRequest as ConnectRequest
from ._server import EventReceived as EventReceived
from ._server import PersistSession as PersistSession
from ._server import RestoreSession as RestoreSession
from ._server import ServerMachine as ServerMachine
from ._server import ServerOutput as ServerOutput
from ._socketio import MAX_ACK_ID as MAX_ACK_ID
from ._socketio import RESERVED_EVENTS as RESERVED_EVENTS
from ._socketio import SioData as SioData
from ._socketio import SioDecoder as SioDecoder
from ._socketio import SioPacket as SioPacket
from ._socketio import SioPacketType as SioPacketType
from ._socketio import encode_event as encode_event
from ._socketio import encode_sio_packet as encode_sio_packet
from ._state import TRANSITIONS as TRANSITIONS
from ._state import Operation as Operation
from ._state import SocketState as SocketState
from ._transport_driver import TransportDriver as TransportDriver

__all__ = [
    "EMITTER_UID",
    "ENGINEIO_EVENTS",
    "MAX_ACK_ID",
    "NO_LIFESPAN",
    "RECORD_SEPARATOR",
    "RECOVERABLE_DISCONNECT_REASONS",
    "RESERVED_EVENTS",
    "SESSION_TRANSITIONS",
    "TRANSITIONS",
    "ASGIAppBase",
    "Accept",
    "Ack",
    "AckCompleted",
    "AckReceived",
    "AckTimeoutError",
    "AdminUI",
    "AsyncEmitter",
    "AsyncEmitterOperator",
    "BeginDisconnect",
    "BroadcastOperator",
    "CloseRoom",
    "ClusterAdapter",
    "ClusterHealth",
    "ClusterMachine",
    "ClusterMessageType",
    "ClusterOutput",
    "ClusterRequestTimeout",
    "ClusterUnavailableError",
    "CompatASGIApp",
    "CompatConnectionRefusedError",
    "CompatNamespace",
    "CompatServer",
    "Connect",
    "ConnectRequest",
    "Connected",
    "ConnectionRefusedError",
    "ConnectionStateRecovery",
    "Deliveries",
    "Disconnect",
    "DisconnectSockets",
    "DuplicateSocketError",
    "EioPacket",
    "EioPacketType",
    "Emit",
    "EmitWithAck",
    "Emitter",
    "EmitterOperator",
    "EngineIODriver",
    "EngineIOServer",
    "EngineIOSession",
    "Event",
    "EventReceived",
    "FinishDisconnect",
    "GatheredResponse",
    "Handlers",
    "Handshake",
    "HandshakeRequest",
    "HttpError",
    "HttpRequest",
    "HttpResponse",
    "InvalidRoomError",
    "InvalidStateError",
    "Join",
    "Leave",
    "LocalProtocolError",
    "MessageDropped",
    "MessageReceived",
    "Namespace",
    "NamespaceKey",
    "Operation",
    "OriginPolicy",
    "OtherLifespan",
    "Output",
    "PacketLog",
    "ParentOperator",
    "PendingResponse",
    "PersistSession",
    "PreparedFrame",
    "Publish",
    "RecoveredState",
    "RecoverySession",
    "RecoveryStore",
    "RedisCommand",
    "Refuse",
    "RemoteProtocolError",
    "RemoteSocket",
    "RequestCompleted",
    "RequestType",
    "RespError",
    "RespParser",
    "RestoreSession",
    "RestoredSession",
    "Room",
    "RoomCreated",
    "RoomDeleted",
    "RoomEngine",
    "RoomJoined",
    "RoomLeft",
    "RoomsArg",
    "SansioRoomsError",
    "Selection",
    "ServerDriver",
    "ServerMachine",
    "ServerNamespace",
    "ServerOutput",
    "ServerSideEvent",
    "SessionClosed",
    "SessionOpened",
    "SessionRestore",
    "SessionState",
    "SidMethods",
    "SioData",
    "SioDecoder",
    "SioPacket",
    "SioPacketType",
    "Socket",
    "SocketDisconnected",
    "SocketDisconnecting",
    "SocketState",
    "SocketsJoin",
    "SocketsLeave",
    "StreamsAdapter",
    "StreamsMode",
    "Subscribe",
    "TimePassed",
    "TransportDriver",
    "TransportOutput",
    "TrustedProxies",
    "UnknownSocketError",
    "Unsubscribe",
    "WebSocketAccept",
    "WebSocketClose",
    "WebSocketReject",
    "WebSocketSend",
    "decode_packet",
    "decode_payload",
    "default_id_factory",
    "encode_command",
    "encode_event",
    "encode_packet",
    "encode_payload",
    "encode_sio_packet",
    "handshake_packet",
    "http_error_body",
    "namespace_key",
    "normalize_namespace",
    "normalize_room",
    "normalize_rooms",
    "parse_cookies",
    "parse_query",
    "request_from_scope",
    "respond",
    "wsgi_environ",
]
__version__ = "0.1.0.dev0"
