"""sansio-rooms: Socket.IO's rooms as a pure Sans-IO state machine.

Everything public is re-exported here; the private modules each declare their ``__all__``.
"""

from ._engine import Namespace as Namespace
from ._engine import RoomEngine as RoomEngine
from ._engine import default_id_factory as default_id_factory
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
from ._outputs import Connected as Connected
from ._outputs import Deliveries as Deliveries
from ._outputs import Output as Output
from ._outputs import RoomCreated as RoomCreated
from ._outputs import RoomDeleted as RoomDeleted
from ._outputs import RoomJoined as RoomJoined
from ._outputs import RoomLeft as RoomLeft
from ._outputs import SocketDisconnected as SocketDisconnected
from ._outputs import SocketDisconnecting as SocketDisconnecting
from ._state import TRANSITIONS as TRANSITIONS
from ._state import Operation as Operation
from ._state import SocketState as SocketState

__all__ = [
    "TRANSITIONS",
    "Accept",
    "Ack",
    "AckCompleted",
    "BeginDisconnect",
    "CloseRoom",
    "Connect",
    "Connected",
    "Deliveries",
    "Disconnect",
    "DisconnectSockets",
    "DuplicateSocketError",
    "Emit",
    "EmitWithAck",
    "Event",
    "FinishDisconnect",
    "InvalidRoomError",
    "InvalidStateError",
    "Join",
    "Leave",
    "LocalProtocolError",
    "Namespace",
    "Operation",
    "Output",
    "Refuse",
    "RemoteProtocolError",
    "Room",
    "RoomCreated",
    "RoomDeleted",
    "RoomEngine",
    "RoomJoined",
    "RoomLeft",
    "RoomsArg",
    "SansioRoomsError",
    "SocketDisconnected",
    "SocketDisconnecting",
    "SocketState",
    "SocketsJoin",
    "SocketsLeave",
    "TimePassed",
    "UnknownSocketError",
    "default_id_factory",
    "normalize_namespace",
    "normalize_room",
    "normalize_rooms",
]
__version__ = "0.1.0.dev0"
