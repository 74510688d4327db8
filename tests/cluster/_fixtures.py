"""The Node fixtures of ``fixtures/`` (format in ``README.md``), loaded for the cluster tests.

Rendered values come back as Python values: ``{"$bin": "<base64>"}`` is ``bytes`` and
``{"$date": "<ISO>"}`` an aware ``datetime`` (UTC). :func:`build_server` makes a
:class:`ServerMachine` holding one server's clients of a fixture, with the fixture's socket
ids, in the fixture's rooms, joined in the same order as in Node (so that room and member
orders match too).
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import functools
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

# tests/cluster is not a package (its modules import one another by name, as conftest imports
# `_redis`), so the repository root may not be on the path yet when a test module imports this
# one: it is added for the shared `tests._server_helpers`.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # pragma: no cover - depends on what pytest collected first
    sys.path.append(_ROOT)

from sansio_rooms._cluster import ClusterMachine  # noqa: E402
from sansio_rooms._cluster_outputs import Subscribe  # noqa: E402
from sansio_rooms._engine import RoomEngine  # noqa: E402
from sansio_rooms._server import ServerMachine  # noqa: E402
from sansio_rooms._socketio import SioPacket, SioPacketType, encode_sio_packet  # noqa: E402
from tests._server_helpers import Client, server_machine  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
ADAPTER = "node-adapter-8.3.json"
EMITTER = "node-emitter-5.1.json"
SHARDED = "node-sharded-8.3.json"
ALL = (ADAPTER, EMITTER, SHARDED)


def rendered(value: Any) -> Any:
    """A fixture's rendered value as Python values (``$bin`` -> bytes, ``$date`` -> datetime)."""
    if isinstance(value, list):
        return [rendered(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1 and "$bin" in value:
            return base64.b64decode(value["$bin"])
        if len(value) == 1 and "$date" in value:
            return datetime.datetime.fromisoformat(value["$date"].replace("Z", "+00:00"))
        assert not any(key.startswith("$") for key in value), value  # reserved, never seen
        return {key: rendered(item) for key, item in value.items()}
    return value


def payload(message: Mapping[str, Any]) -> bytes:
    """The exact bytes of a captured message."""
    return base64.b64decode(message["payload_b64"])


def decoded(message: Mapping[str, Any]) -> Any:
    return rendered(message["decoded"])


class Fixture:
    """One fixture file."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.raw: dict[str, Any] = json.loads((FIXTURES / name).read_text("utf-8"))
        self.sharded = self.raw["generator"]["mode"] == "sharded"
        self.random: dict[str, str] = self.raw["random"]
        self.scenarios: dict[str, dict[str, Any]] = {s["name"]: s for s in self.raw["scenarios"]}
        topology = self.raw["topology"]
        self.clients: dict[str, dict[str, Any]] = {c["name"]: c for c in topology["clients"]}
        self.clusters: dict[str, dict[str, Any]] = {}
        for cluster in topology["clusters"]:
            for server in cluster["servers"]:
                self.clusters[server] = cluster

    def __repr__(self) -> str:
        return f"<Fixture {self.name}>"

    def scenario(self, name: str) -> dict[str, Any]:
        return self.scenarios[name]

    def messages(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for scenario in self.raw["scenarios"]:
            for message in scenario["messages"]:
                yield scenario, message

    def uid(self, server: str, nsp: str = "/") -> str:
        return self.random[f"<uid:{server}:{nsp}>"]

    def sid(self, client: str) -> str:
        return self.random[f"<sid:{client}>"]

    def request_id(self, number: int) -> str:
        return self.random[f"<req:{number}>"]

    def client_of_sid(self, sid: str) -> str:
        (name,) = [c for c in self.clients if self.random.get(f"<sid:{c}>") == sid]
        return name

    def clients_of(self, server: str, nsp: str | None = None) -> list[dict[str, Any]]:
        """The clients of ``server`` (of one namespace), in connection order."""
        return [
            c
            for c in self.clients.values()
            if c["server"] == server and (nsp is None or c["nsp"] == nsp)
        ]

    def servers(self) -> list[str]:
        return list(self.clusters)

    def options(self, server: str) -> dict[str, Any]:
        """The ClusterMachine options that match the Node server's."""
        node = self.clusters[server]["options"]
        options: dict[str, Any] = {"sharded": self.sharded}
        key = node.get("channelPrefix" if self.sharded else "key")
        if key is not None:
            options["key"] = key
        if "subscriptionMode" in node:
            options["subscription_mode"] = node["subscriptionMode"]
        if node.get("publishOnSpecificResponseChannel"):
            options["publish_on_specific_response_channel"] = True
        return options

    def key(self, server: str) -> str:
        return str(self.options(server).get("key", "socket.io"))

    @functools.cached_property
    def descriptions(self) -> dict[str, tuple[dict[str, Any], Any]]:
        """``sid -> (handshake, data)`` for every socket some fetchSockets answer describes."""
        found: dict[str, tuple[dict[str, Any], Any]] = {}
        for _, message in self.messages():
            body = decoded(message)
            if not isinstance(body, dict):
                continue
            if self.sharded:
                body = body.get("data")
                if not isinstance(body, dict):
                    continue
            for socket in body.get("sockets") or ():
                if isinstance(socket, dict):
                    found[socket["id"]] = (socket["handshake"], socket["data"])
        return found

    def initial_state(self) -> dict[str, list[Any]]:
        """Every client's rooms after setup, as ``state_after`` writes them (id room first)."""
        return {name: [self.sid(name), *c["rooms"]] for name, c in self.clients.items()}

    def state_before(self, scenario: str) -> dict[str, list[Any]]:
        """Every client's rooms when ``scenario`` starts: the setup, changed by each
        ``state_after`` before it. A ``state_after`` lists the clients of the clusters it is
        about; one of those clusters' clients that it leaves out has disconnected."""
        state = self.initial_state()
        for earlier in self.raw["scenarios"]:
            if earlier["name"] == scenario:
                return state
            after = earlier.get("state_after")
            if after:
                clusters = {self.clusters[self.clients[c]["server"]]["name"] for c in after}
                for name, info in self.clients.items():
                    if self.clusters[info["server"]]["name"] in clusters:
                        if name in after:
                            state[name] = after[name]
                        else:
                            state.pop(name, None)
        raise KeyError(scenario)

    def describe_socket(self, nsp: str, sid: str) -> tuple[dict[str, Any], Any]:
        """A ``describe_socket`` that gives what the Node server gave for that socket."""
        return self.descriptions[sid]


@functools.cache
def load(name: str) -> Fixture:
    return Fixture(name)


class Built:
    """A server machine with one fixture server's clients."""

    def __init__(self, fixture: Fixture, server: str, machine: ServerMachine) -> None:
        self.fixture = fixture
        self.server = server
        self.machine = machine
        self.clients: dict[str, Client] = {}

    def sid(self, client: str) -> str:
        return self.fixture.sid(client)

    def rooms(self, client: str) -> list[Any]:
        info = self.fixture.clients[client]
        return list(self.machine.engine.namespace(info["nsp"]).rooms_of(self.sid(client)))

    def state(self) -> dict[str, list[Any]]:
        """Every connected client's rooms, as ``state_after`` writes them."""
        state = {}
        for name, info in self.fixture.clients.items():
            if name in self.clients:
                namespace = self.machine.engine.namespace(info["nsp"])
                if namespace.has_socket(self.sid(name)):
                    state[name] = self.rooms(name)
        return state

    def cluster(self, nsp: str = "/", **options: Any) -> ClusterMachine:
        """A cluster machine with this server's uid for ``nsp`` and its Node options."""
        merged = {**self.fixture.options(self.server), "uid": self.fixture.uid(self.server, nsp)}
        merged.update(options)
        return ClusterMachine(self.machine, **merged)


def build_server(
    fixture: Fixture,
    server: str,
    *,
    state: Mapping[str, list[Any]] | None = None,
    notices: bool = False,
) -> Built:
    """``server``'s clients connected with their fixture ids, in their rooms (those of
    ``state``, by default the rooms after setup), one client after the other."""
    if state is None:
        state = fixture.initial_state()
    namespaces = fixture.clusters[server]["namespaces"]
    machine = server_machine(namespaces=namespaces, engine=RoomEngine(notices=notices))
    clients = [c for c in fixture.clients_of(server) if c["name"] in state]
    sids = iter([fixture.sid(c["name"]) for c in clients])
    machine.engine.id_factory = lambda: next(sids)
    built = Built(fixture, server, machine)
    for info in clients:
        client = Client(machine, info["name"])
        sid = client.connect(info["nsp"])
        own_room, *rooms = state[info["name"]]
        assert sid == own_room == fixture.sid(info["name"])
        machine.engine.namespace(info["nsp"]).join(sid, rooms)
        built.clients[info["name"]] = client
    return built


def frames(nsp: str, event: str, *args: Any, ack_id: int | None = None) -> tuple[str | bytes, ...]:
    """The WebSocket frames of an EVENT: the Engine.IO message of the Socket.IO packet, then
    its binary attachments."""
    packet = SioPacket(type=SioPacketType.EVENT, nsp=nsp, data=[event, *args], id=ack_id)
    return tuple("4" + m if isinstance(m, str) else m for m in encode_sio_packet(packet))


def subscribed(cluster: ClusterMachine) -> tuple[set[str], set[str]]:
    """The channels and patterns the cluster machine wants now."""
    channels: set[str] = set()
    patterns: set[str] = set()
    for subscribe in cluster.subscriptions():
        assert isinstance(subscribe, Subscribe)
        channels.update(subscribe.channels)
        patterns.update(subscribe.patterns)
    return channels, patterns


def hears(cluster: ClusterMachine, channel: str) -> bool:
    """Whether Redis would hand a message on ``channel`` to this machine's subscriber."""
    channels, patterns = subscribed(cluster)
    return channel in channels or any(fnmatch.fnmatchcase(channel, p) for p in patterns)


Describe = Callable[[str, str], tuple[Mapping[str, Any], Any]]
