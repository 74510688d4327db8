"""The site's pictures, drawn from the code when the site is built: never by hand.

* ``socket-states``: a socket's life in a namespace, from ``sansio_rooms.TRANSITIONS``
  (``SocketState`` x ``Operation``); the ways in (``connect``) by running the engine;
* ``session-states``: an Engine.IO session's transport, from
  ``sansio_rooms.SESSION_TRANSITIONS``; the ways in (the two handshakes) by running an
  ``EngineIOServer``;
* ``broadcast-sequence``: a broadcast from the client's event to the frames, as a sequence
  diagram of a traced run of ``ServerMachine`` (every call between the core's public objects,
  with its arguments and what it returned);
* ``cluster-topology``: two servers and an emitter on one Redis, from a run of two
  ``ClusterMachine`` and an ``Emitter`` over an in-memory Redis pub/sub: the channels each
  subscribes to, what a broadcast and an emit publish, and who delivers what to whom;
* ``bench-core``, ``bench-fanout``, ``bench-cluster``: the figures of the runs quoted in
  docs/benchmarks.md (the fan-out by ``benchmarks/plot_fanout.py``).

Standard library SVG, no graphviz: each state machine is laid out on one row, states in their
enum's order; a transition to the next state is a straight arrow, the others are arcs routed
above or below the row (whichever crosses fewer arcs), a transition that keeps the state is
listed inside the state's box. Every transition and entry carries ``data-source``,
``data-input`` and ``data-target`` attributes, so that tests/test_docs_site.py can read the
picture back and compare it with the table.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import inspect
import math
import re
import sys
from collections.abc import Callable, Iterator, KeysView, Mapping, Sequence, ValuesView
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import sansio_rooms
from sansio_rooms import (
    SESSION_TRANSITIONS,
    TRANSITIONS,
    ClusterMachine,
    ConnectRequest,
    Emitter,
    EngineIOServer,
    EventReceived,
    HttpRequest,
    HttpResponse,
    Publish,
    RoomEngine,
    ServerMachine,
    SessionOpened,
    SessionState,
    SocketState,
    Subscribe,
    WebSocketSend,
)

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent
BENCHMARKS_PAGE = DOCS / "benchmarks.md"
PLOT_FANOUT = ROOT / "benchmarks" / "plot_fanout.py"

#: The two ends of a life that are not states: before the first one, after the last one.
START, GONE = "start", "gone"

FONT = 12
LINE = 15  # a line of text at FONT px
INK, MUTED, ACCENT, PAPER = "#1f2933", "#6b7785", "#2b7bba", "#ffffff"


@dataclass(frozen=True)
class Picture:
    """One picture: its SVG, and a caption saying what it was drawn from."""

    svg: str
    caption: str

    @property
    def caption_html(self) -> str:
        # ``code`` spans in the caption, as in the pages.
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(self.caption))


# -- SVG helpers ---------------------------------------------------------------------------


def text_width(text: str, size: float = FONT) -> float:
    """A generous estimate of the width of ``text`` in sans-serif at ``size`` px."""
    return len(text) * size * 0.6 + 4


def _attrs(values: Mapping[str, object]) -> str:
    return "".join(
        f' {key.rstrip("_").replace("_", "-")}="{escape(str(value))}"'
        for key, value in values.items()
        if value is not None
    )


def label(x: float, y: float, content: str, **extra: object) -> str:
    """A text with a white halo, readable over lines."""
    extra.setdefault("text_anchor", "middle")
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" paint-order="stroke" stroke="{PAPER}" '
        f'stroke-width="4" stroke-linejoin="round"{_attrs(extra)}>{escape(content)}</text>'
    )


def document(width: float, height: float, body: Sequence[str], title: str) -> str:
    """An SVG document scaled to its container (``viewBox``), on white."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" font-family="sans-serif" '
        f'font-size="{FONT}" fill="{INK}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
        f'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{INK}"/></marker>'
        '<marker id="arrow-open" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10" '
        f'fill="none" stroke="{INK}"/></marker>'
        "</defs>"
        f'<rect width="100%" height="100%" fill="{PAPER}"/>' + "".join(body) + "</svg>"
    )


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- state machines ----------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    """``source`` --``input``--> ``target``: state values, or START / GONE."""

    source: str
    input: str
    target: str


@dataclass(frozen=True)
class Machine:
    title: str
    states: tuple[str, ...]  # in their enum's order
    transitions: tuple[Transition, ...]  # the table, in its order
    entries: tuple[Transition, ...]  # from START: how a life begins


def _table(table: Mapping[tuple[Any, Any], Any]) -> tuple[Transition, ...]:
    return tuple(
        Transition(state.value, event.value, GONE if after is None else after.value)
        for (state, event), after in table.items()
    )


def socket_machine() -> Machine:
    """``TRANSITIONS``; the ways in are found by connecting sockets to a real engine."""
    namespace = RoomEngine().namespace("/")
    namespace.connect("pending-one", pending=True)
    namespace.connect("connected-one")
    entries = (
        Transition(START, "connect(sid, pending=True)", namespace.state_of("pending-one").value),
        Transition(START, "connect(sid)", namespace.state_of("connected-one").value),
    )
    return Machine(
        "The life of a socket in a namespace",
        tuple(state.value for state in SocketState),
        _table(TRANSITIONS),
        entries,
    )


def session_machine() -> Machine:
    """``SESSION_TRANSITIONS``; the ways in are found by opening sessions on a real server
    (a long-polling handshake, a WebSocket one) and asking the server for their state."""
    server = EngineIOServer()
    handshake = {"EIO": "4", "transport": "polling"}
    polling = server.receive_request(HttpRequest(handle="get", method="GET", query=handshake), 0.0)
    websocket = server.websocket_connect("ws", {"EIO": "4", "transport": "websocket"}, 0.0)

    def opened(outputs: Sequence[object]) -> str:
        (session,) = (output for output in outputs if isinstance(output, SessionOpened))
        return server.state_of(session.eio_sid).value

    entries = (
        Transition(START, "handshake: GET (long-polling)", opened(polling)),
        Transition(START, "handshake: WebSocket", opened(websocket)),
    )
    return Machine(
        "The transport of an Engine.IO session",
        tuple(state.value for state in SessionState),
        _table(SESSION_TRANSITIONS),
        entries,
    )


@dataclass
class _Node:
    key: str
    index: int
    width: float
    height: float
    internal: list[Transition] = field(default_factory=list)
    cx: float = 0.0

    @property
    def small(self) -> bool:
        return self.key in (START, GONE)

    @property
    def top(self) -> float:
        return -self.height / 2

    @property
    def bottom(self) -> float:
        return self.height / 2

    def quarter(self) -> float:
        return 0.0 if self.small else self.width / 4

    def edge_y(self, dx: float, above: bool) -> float:
        """Where a vertical line at ``cx + dx`` meets the node's outline."""
        if not self.small:
            return self.top if above else self.bottom
        radius = self.width / 2
        dx = min(abs(dx), radius - 2)
        dy = math.sqrt(radius * radius - dx * dx)
        return -dy if above else dy


@dataclass
class _Arc:
    source: _Node
    target: _Node
    transitions: list[Transition]
    above: bool = True
    level: int = 1

    @property
    def span(self) -> tuple[int, int]:
        return tuple(sorted((self.source.index, self.target.index)))  # type: ignore[return-value]


def _crosses(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[0] < a[1] < b[1] or b[0] < a[0] < b[1] < a[1]


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def state_diagram(machine: Machine) -> str:
    """The SVG of ``machine`` (see the module docstring for the layout)."""
    order = [START, *machine.states, GONE]
    nodes: dict[str, _Node] = {}
    for index, key in enumerate(order):
        if key == START:
            nodes[key] = _Node(key, index, 14, 14)
        elif key == GONE:
            nodes[key] = _Node(key, index, 22, 22)
        else:
            nodes[key] = _Node(key, index, 0, 0)
    edges: dict[tuple[str, str], list[Transition]] = {}
    for transition in (*machine.entries, *machine.transitions):
        if transition.source == transition.target:
            nodes[transition.source].internal.append(transition)
        else:
            edges.setdefault((transition.source, transition.target), []).append(transition)
    for node in nodes.values():
        if not node.small:
            lines = [node.key.upper(), *(f"↻ {t.input}" for t in node.internal)]
            node.width = max(text_width(line) for line in lines) + 24
            node.height = 32 + (LINE * len(node.internal) + 8 if node.internal else 0)

    straight = {
        key: ts for key, ts in edges.items() if nodes[key[1]].index == nodes[key[0]].index + 1
    }
    arcs = [
        _Arc(nodes[source], nodes[target], ts)
        for (source, target), ts in edges.items()
        if (source, target) not in straight
    ]
    # Gaps between neighbours: room for the straight arrow's labels.
    gaps = [56.0] * (len(order) - 1)
    for (source, _), ts in straight.items():
        index = nodes[source].index
        gaps[index] = max(gaps[index], max(text_width(t.input) for t in ts) + 28)
    cursor = 24.0
    for index, key in enumerate(order):
        node = nodes[key]
        node.cx = cursor + node.width / 2
        cursor += node.width + (gaps[index] if index < len(gaps) else 56)
    width = cursor

    # Sides and levels: shortest arcs first, on the side where they cross fewer arcs.
    placed: list[_Arc] = []
    for arc in sorted(arcs, key=lambda a: (a.span[1] - a.span[0], a.span)):
        forward = arc.target.index > arc.source.index
        crossings = {
            side: sum(1 for p in placed if p.above == side and _crosses(p.span, arc.span))
            for side in (True, False)
        }
        arc.above = forward if crossings[forward] <= crossings[not forward] else not forward
        arc.level = 1 + max(
            (p.level for p in placed if p.above == arc.above and _overlaps(p.span, arc.span)),
            default=0,
        )
        placed.append(arc)
    lines_at: dict[tuple[bool, int], int] = {}
    for arc in placed:
        slot = (arc.above, arc.level)
        lines_at[slot] = max(lines_at.get(slot, 0), len(arc.transitions))

    def offset(above: bool, level: int) -> float:
        return 26 + sum(lines_at.get((above, k), 1) * LINE + 14 for k in range(1, level))

    body: list[str] = []
    low, high = -40.0, 40.0
    for arc in placed:
        lo, hi = arc.span
        inside = [n for n in nodes.values() if lo <= n.index <= hi]
        shift = (arc.level - 1) * 8
        rightward = arc.target.index > arc.source.index
        direction = 1 if rightward else -1
        x1 = arc.source.cx + direction * (arc.source.quarter() - shift)
        x2 = arc.target.cx - direction * (arc.target.quarter() - shift)
        y1 = arc.source.edge_y(x1 - arc.source.cx, arc.above)
        y2 = arc.target.edge_y(x2 - arc.target.cx, arc.above)
        if arc.above:
            y = min(n.top for n in inside) - offset(True, arc.level)
        else:
            y = max(n.bottom for n in inside) + offset(False, arc.level)
        r = 8 if arc.above else -8
        body.append(
            f'<path class="edge" data-source="{arc.source.key}" data-target="{arc.target.key}" '
            f'd="M{x1:.1f},{y1:.1f} V{y + r:.1f} Q{x1:.1f},{y:.1f} {x1 + 8 * direction:.1f},'
            f"{y:.1f} H{x2 - 8 * direction:.1f} Q{x2:.1f},{y:.1f} {x2:.1f},{y + r:.1f} "
            f'V{y2:.1f}" fill="none" stroke="{INK}" marker-end="url(#arrow)"/>'
        )
        middle = (x1 + x2) / 2
        count = len(arc.transitions)
        for k, transition in enumerate(arc.transitions):
            if arc.above:
                baseline = y - 5 - LINE * (count - 1 - k)
                low = min(low, baseline - LINE)
            else:
                baseline = y + 14 + LINE * k
                high = max(high, baseline + 6)
            body.append(_transition_text(middle, baseline, transition))
    for (source_key, target_key), ts in straight.items():
        left, right = nodes[source_key], nodes[target_key]
        x1, x2 = left.cx + left.width / 2, right.cx - right.width / 2
        body.append(
            f'<path class="edge" data-source="{source_key}" data-target="{target_key}" '
            f'd="M{x1:.1f},0 H{x2:.1f}" stroke="{INK}" marker-end="url(#arrow)"/>'
        )
        for k, transition in enumerate(ts):
            baseline = -6 - LINE * (len(ts) - 1 - k)
            body.append(_transition_text((x1 + x2) / 2, baseline, transition))
    for node in nodes.values():
        body.extend(_node_svg(node))
        low, high = min(low, node.top - 10), max(high, node.bottom + 22)
    height = high - low + 20
    shifted = f'<g transform="translate(0,{10 - low:.1f})">' + "".join(body) + "</g>"
    return document(width, height, [shifted], machine.title)


def _transition_text(x: float, y: float, transition: Transition) -> str:
    kind = "entry" if transition.source == START else "transition"
    return label(
        x,
        y,
        transition.input,
        class_=kind,
        data_source=transition.source,
        data_input=transition.input,
        data_target=transition.target,
    )


def _node_svg(node: _Node) -> list[str]:
    if node.key == START:
        return [f'<circle class="start" cx="{node.cx:.1f}" cy="0" r="7" fill="{INK}"/>']
    if node.key == GONE:
        return [
            f'<circle class="gone" cx="{node.cx:.1f}" cy="0" r="11" fill="{PAPER}" '
            f'stroke="{INK}" stroke-width="1.5"/>',
            f'<circle cx="{node.cx:.1f}" cy="0" r="6" fill="{INK}"/>',
            label(node.cx + 15, 4, "gone", fill=MUTED, text_anchor="start"),
        ]
    x = node.cx - node.width / 2
    parts = [
        f'<rect class="state" data-state="{node.key}" x="{x:.1f}" y="{node.top:.1f}" '
        f'width="{node.width:.1f}" height="{node.height:.1f}" rx="8" fill="#eaf2fa" '
        f'stroke="{ACCENT}" stroke-width="1.5"/>',
        f'<text x="{node.cx:.1f}" y="{node.top + 21:.1f}" text-anchor="middle" '
        f'font-weight="bold">{escape(node.key.upper())}</text>',
    ]
    if node.internal:
        line_y = node.top + 31
        parts.append(
            f'<line x1="{x:.1f}" y1="{line_y:.1f}" x2="{x + node.width:.1f}" y2="{line_y:.1f}" '
            f'stroke="{ACCENT}" stroke-opacity="0.5"/>'
        )
        for k, transition in enumerate(node.internal):
            parts.append(
                f'<text class="transition" data-source="{transition.source}" '
                f'data-input="{escape(transition.input)}" data-target="{transition.target}" '
                f'x="{x + 12:.1f}" y="{line_y + 15 + LINE * k:.1f}">'
                f"↻ {escape(transition.input)}</text>"
            )
    return parts


# -- a broadcast, traced ----------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One arrow of the sequence diagram (``kind``: frame, call, return or note)."""

    source: str
    target: str
    text: str
    kind: str


def _fields(value: Any) -> list[str] | None:
    """The fields of one of the core's value classes (attrs, or slots), else None."""
    if hasattr(value, "__attrs_attrs__"):
        return [a.name for a in value.__attrs_attrs__]
    cls = type(value)
    if cls.__module__.startswith("sansio_rooms.") and cls.__name__ in sansio_rooms.__all__:
        slots = getattr(cls, "__slots__", ())
        return [name for name in getattr(cls, "__annotations__", {}) if name in slots] or None
    return None


def _empty(value: Any) -> bool:
    return value is None or value is False or value is True or value in ((), [], {})


def _brief(value: Any, limit: int = 120) -> str:
    """A short repr: the core's values by their fields (none that is empty, a flag, or
    HTTP headers), enums by their member."""
    if isinstance(value, KeysView | ValuesView):
        value = list(value)
    if isinstance(value, list | tuple) and value and _fields(value[0]) is not None:
        inner = ", ".join(_brief(item, limit) for item in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    fields = _fields(value)
    if fields is not None and not inspect.isclass(value):
        shown = [
            f"{name}={_brief(getattr(value, name), 40)}"
            for name in fields
            if name not in ("headers", "routes") and not _empty(getattr(value, name))
        ]
        return shorten(f"{type(value).__name__}({', '.join(shown)})", limit)
    if hasattr(value, "_name_") and hasattr(type(value), "__members__"):
        return f"{type(value).__name__}.{value._name_}"
    return shorten(repr(value), limit)


def _public_callable(frame: FrameType) -> tuple[str, Any] | None:
    """``("Class.method", function)`` or ``("function", function)`` if the frame runs one
    of the core's public callables: a function of ``sansio_rooms.__all__``, or a method
    without ``_`` of one of its classes."""
    module = frame.f_globals.get("__name__", "")
    if not module.startswith("sansio_rooms."):
        return None
    qualname = frame.f_code.co_qualname
    head, _, method = qualname.partition(".")
    if head not in sansio_rooms.__all__ or "<" in qualname:
        return None
    if method and (method.startswith("_") or "." in method):
        return None
    owner = getattr(sansio_rooms, head)
    function = getattr(owner, method) if method else owner
    if getattr(function, "__code__", None) is not frame.f_code:
        return None
    return qualname, function


def _arguments(frame: FrameType, function: Any) -> list[str]:
    """The call's arguments as written: positional ones, then the keywords that are not
    their default. Read from the code object and the function's defaults, not from
    ``inspect.signature`` (autodoc may have replaced a ``__signature__`` while building)."""
    code = frame.f_code
    positional = code.co_varnames[: code.co_argcount]
    keywords = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    defaults = dict(zip(reversed(positional), reversed(function.__defaults__ or ()), strict=False))
    defaults.update(function.__kwdefaults__ or {})
    values = frame.f_locals
    shown: list[str] = []
    for name in positional:
        if name == "self":
            continue
        if name not in defaults:
            shown.append(_brief(values[name], 60))
        elif values[name] is not defaults[name] and values[name] != defaults[name]:
            shown.append(f"{name}={_brief(values[name], 60)}")
    if code.co_flags & inspect.CO_VARARGS:
        shown += [
            _brief(item, 60) for item in values[code.co_varnames[len(positional) + len(keywords)]]
        ]
    for name in keywords:
        if values[name] is not defaults.get(name) and values[name] != defaults.get(name):
            shown.append(f"{name}={_brief(values[name], 60)}")
    return shown


def module_title(module: ModuleType) -> str:
    """A module's docstring's first line, up to a colon."""
    first = (inspect.getdoc(module) or module.__name__).splitlines()[0].replace("``", "")
    head, colon, _ = first.partition(": ")
    return head if colon else first.rstrip(".")


class _Recorder:
    """Records, with ``sys.setprofile``, the calls between the core's public callables made
    while it runs, with their arguments and return values, as sequence-diagram messages.
    A lifeline per module of the core; what calls a public callable is the nearest public
    callable up the stack (or the host)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.messages: list[Message] = []
        self.names: dict[str, list[str]] = {}  # lifeline -> the public names seen on it
        self._stack: list[str | None] = []  # the lifeline of each public frame, else None

    def _caller(self) -> str:
        return next((lifeline for lifeline in reversed(self._stack) if lifeline), self.host)

    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            found = _public_callable(frame)
            lifeline = None
            if found is not None:
                qualname, function = found
                lifeline = frame.f_globals["__name__"]
                names = self.names.setdefault(lifeline, [])
                if qualname.partition(".")[0] not in names:
                    names.append(qualname.partition(".")[0])
                text = f"{qualname}({', '.join(_arguments(frame, function))})"
                self.messages.append(Message(self._caller(), lifeline, text, "call"))
            self._stack.append(lifeline)
        elif event == "return" and self._stack:
            lifeline = self._stack.pop()
            if lifeline is not None and arg is not None:
                self.messages.append(Message(lifeline, self._caller(), _brief(arg), "return"))

    @contextmanager
    def recording(self) -> Iterator[None]:
        self._stack.clear()
        previous = sys.getprofile()
        sys.setprofile(self._profile)
        try:
            yield
        finally:
            sys.setprofile(previous)


@dataclass(frozen=True)
class BroadcastRun:
    messages: tuple[Message, ...]
    lifelines: tuple[str, ...]  # in order; the core's are module names
    titles: Mapping[str, tuple[str, str]]  # lifeline -> (title, subtitle)
    event_frame: str
    outputs: tuple[object, ...]  # what ServerMachine.emit returned
    clients: Mapping[str, str]  # transport handle -> client


HOST = "binding"
CLIENTS = "clients"


def _connect(machine: ServerMachine, handle: str) -> str:
    """A WebSocket client connected to "/chat" and accepted: its socket id."""
    machine.websocket_connect(handle, {"EIO": "4", "transport": "websocket"}, 0.0)
    (request,) = machine.websocket_message(handle, "40/chat,", 0.0)
    if not isinstance(request, ConnectRequest):
        raise RuntimeError(f"a CONNECT should ask the host, got {request}")
    machine.accept("/chat", request.sid)
    return request.sid


def broadcast_run() -> BroadcastRun:
    """Three clients in room "python" of "/chat": ann and bob on WebSocket, cid on
    long-polling with a GET waiting. ann sends an event; the host's handler broadcasts it
    to the room, sender excluded. Every call between public objects is recorded."""
    ids = iter(["eio-ann", "ann", "eio-bob", "bob", "eio-cid", "cid"])
    machine = ServerMachine(namespaces=["/chat"])
    machine.eio.id_factory = machine.engine.id_factory = lambda: next(ids)
    clients = {"ws-ann": "ann", "ws-bob": "bob", "get-cid": "cid"}
    for name in ("ann", "bob"):
        _connect(machine, f"ws-{name}")
    query = {"EIO": "4", "transport": "polling"}
    machine.receive_request(HttpRequest(handle="handshake", method="GET", query=query), 0.0)
    query["sid"] = "eio-cid"
    post = HttpRequest(handle="post", method="POST", query=query, body=b"40/chat,")
    machine.receive_request(post, 0.0)
    machine.accept("/chat", "cid")
    machine.receive_request(HttpRequest(handle="connect", method="GET", query=query), 0.0)
    parked = machine.receive_request(HttpRequest(handle="get-cid", method="GET", query=query), 0)
    if parked:
        raise RuntimeError(f"cid's GET should wait for something to send, got {parked}")
    namespace = machine.engine.namespace("/chat")
    for sid in ("ann", "bob", "cid"):
        namespace.join(sid, "python")

    recorder = _Recorder(HOST)
    frame = '42/chat,["say","hi"]'
    messages = [Message(CLIENTS, HOST, f"ann: WebSocket frame {frame}", "frame")]
    with recorder.recording():
        (event,) = machine.websocket_message("ws-ann", frame, 1.0)
    if not isinstance(event, EventReceived):
        raise RuntimeError(f"ann's frame should be an event for the host, got {event}")
    messages += recorder.messages
    recorder.messages = []
    note = f"{event.event!r} handler: emit 'said' to room 'python', except {event.sid}"
    messages.append(Message(HOST, HOST, note, "note"))
    with recorder.recording():
        outputs = machine.emit("/chat", "said", *event.args, rooms="python", sender=event.sid)
    messages += recorder.messages
    for output in outputs:
        if isinstance(output, WebSocketSend):
            for handle in output.handles:
                for text in output.frames:
                    line = f"{clients[handle]}: WebSocket frame {text!s}"
                    messages.append(Message(HOST, CLIENTS, line, "frame"))
        elif isinstance(output, HttpResponse):
            line = (
                f"{clients[output.handle]}: HTTP {output.status}, its GET: {output.body.decode()}"
            )
            messages.append(Message(HOST, CLIENTS, line, "frame"))
    lifelines: list[str] = [CLIENTS, HOST]
    for message in messages:
        for name in (message.source, message.target):
            if name not in lifelines:
                lifelines.append(name)
    titles = {
        CLIENTS: ("clients", "ann, bob (WebSocket), cid (polling)"),
        HOST: ("binding", "the host: sockets, clock, handlers"),
    }
    for name in lifelines[2:]:
        titles[name] = (", ".join(recorder.names.get(name, [])) or name, "")
    # The names seen in the first recording too (the recorder keeps them across both).
    for name in lifelines[2:]:
        subtitle = module_title(sys.modules[name])
        titles[name] = (", ".join(recorder.names[name]), subtitle)
    return BroadcastRun(tuple(messages), tuple(lifelines), titles, frame, tuple(outputs), clients)


def _wrap(text: str, width: int, separator: str = " ") -> list[str]:
    """``text`` in lines of at most ``width`` characters where it can, cut after
    ``separator``."""
    parts = text.split(separator)
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + len(separator) + len(part) > width:
            lines[-1] += separator.rstrip()
            lines.append(part)
        else:
            lines[-1] += separator + part
    return lines


def sequence_diagram(run: BroadcastRun) -> str:
    """Lifelines side by side, messages top to bottom; a text may run past its arrow."""
    heads = {
        name: (_wrap(title, 22, ", "), _wrap(subtitle, 26) if subtitle else [])
        for name, (title, subtitle) in run.titles.items()
    }
    boxes = {
        name: max(text_width(line) for line in [*bold, *small]) + 16
        for name, (bold, small) in heads.items()
    }
    column = {name: index for index, name in enumerate(run.lifelines)}
    xs: list[float] = []
    for index, name in enumerate(run.lifelines):
        if not xs:
            xs.append(20 + boxes[name] / 2)
            continue
        previous = run.lifelines[index - 1]
        xs.append(xs[-1] + max(150.0, (boxes[previous] + boxes[name]) / 2 + 16))
    head = 10 + max(LINE * len(bold) + 13 * len(small) for bold, small in heads.values()) + 12
    y = head + 20
    rows: list[str] = []
    right = xs[-1] + boxes[run.lifelines[-1]] / 2
    for message in run.messages:
        a, b = column[message.source], column[message.target]
        data = _attrs(
            {"class_": message.kind, "data_source": message.source, "data_target": message.target}
        )
        if message.kind == "note":
            width = text_width(message.text, 11) + 16
            x = xs[a] - 12
            rows.append(
                f'<g{data}><rect x="{x:.1f}" y="{y - 6:.1f}" width="{width:.1f}" height="22" '
                f'rx="3" fill="#fff8d6" stroke="#c9a227"/>'
                f'<text x="{x + 8:.1f}" y="{y + 9:.1f}" font-size="11">{escape(message.text)}'
                "</text></g>"
            )
            right = max(right, x + width)
            y += 40
            continue
        lines = _wrap(message.text, 64, ", ")
        y += 13 * (len(lines) - 1)
        dashed = ' stroke-dasharray="5,4"' if message.kind == "return" else ""
        marker = "arrow-open" if message.kind == "return" else "arrow"
        colour = ACCENT if message.kind == "frame" else INK
        x = min(xs[a], xs[b]) + 8
        texts = "".join(
            label(
                x,
                y - 5 - 13 * (len(lines) - 1 - k),
                line,
                text_anchor="start",
                font_size=11,
                font_family="monospace",
                fill=colour,
            )
            for k, line in enumerate(lines)
        )
        right = max(right, x + max(text_width(line, 11) for line in lines))
        rows.append(
            f'<g{data}><line x1="{xs[a]:.1f}" y1="{y:.1f}" x2="{xs[b]:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}"{dashed} marker-end="url(#{marker})"/>{texts}</g>'
        )
        y += 26
    body: list[str] = []
    for name, x in zip(run.lifelines, xs, strict=True):
        bold, small = heads[name]
        box = boxes[name]
        body.append(
            f'<line x1="{x:.1f}" y1="{head:.1f}" x2="{x:.1f}" y2="{y:.1f}" '
            f'stroke="{MUTED}" stroke-dasharray="3,3"/>'
        )
        fill = "#eaf2fa" if name in (CLIENTS, HOST) else "#f3f4f6"
        body.append(
            f'<rect class="lifeline" data-name="{escape(name)}" x="{x - box / 2:.1f}" y="8" '
            f'width="{box:.1f}" height="{head - 8:.1f}" rx="6" fill="{fill}" stroke="{MUTED}"/>'
        )
        for k, line in enumerate(bold):
            body.append(
                f'<text x="{x:.1f}" y="{26 + LINE * k:.1f}" text-anchor="middle" '
                f'font-weight="bold">{escape(line)}</text>'
            )
        for k, line in enumerate(small):
            body.append(
                f'<text x="{x:.1f}" y="{26 + LINE * len(bold) + 13 * k:.1f}" '
                f'text-anchor="middle" font-size="11" fill="{MUTED}">{escape(line)}</text>'
            )
    return document(right + 20, y + 8, body + rows, "A broadcast, from event to frames")


# -- the cluster, run ---------------------------------------------------------------------


class MemoryRedis:
    """Redis pub/sub in memory: exact channels and glob patterns, as PUBLISH delivers."""

    def __init__(self) -> None:
        self.channels: dict[str, set[str]] = {}  # subscriber -> channels
        self.patterns: dict[str, set[str]] = {}

    def subscribe(self, subscriber: str, subscribe: Subscribe) -> None:
        self.channels.setdefault(subscriber, set()).update(subscribe.channels)
        self.patterns.setdefault(subscriber, set()).update(subscribe.patterns)

    def receivers(self, channel: str) -> list[tuple[str, str]]:
        """(subscriber, the channel or pattern that matched), in subscription order."""
        found = []
        for subscriber, channels in self.channels.items():
            if channel in channels:
                found.append((subscriber, channel))
                continue
            for pattern in sorted(self.patterns[subscriber]):
                if fnmatch.fnmatchcase(channel, pattern):
                    found.append((subscriber, pattern))
                    break
        return found


@dataclass(frozen=True)
class Received:
    """``server`` got ``publish`` (made by ``sender``) through ``matched``; it sent ``frames``
    to ``clients`` (none: the message was its own, or nobody there is in the room)."""

    sender: str
    server: str
    channel: str
    matched: str
    clients: tuple[str, ...]
    frames: tuple[str, ...]


@dataclass(frozen=True)
class ClusterRun:
    servers: Mapping[str, tuple[str, ...]]  # server -> its clients
    subscriptions: Mapping[str, tuple[Subscribe, ...]]
    local: Mapping[
        str, tuple[str, ...]
    ]  # the broadcasting server's own deliveries: client -> frames
    published: tuple[tuple[str, Publish], ...]  # (publisher, message)
    received: tuple[Received, ...]


def cluster_run() -> ClusterRun:
    """Servers A (ann, bob) and B (cid), each a ``ServerMachine`` with a ``ClusterMachine``,
    every client in room "python" of "/chat", on an in-memory Redis. ann broadcasts to the
    room (A delivers to bob and publishes); then an ``Emitter`` emits to the room."""
    redis = MemoryRedis()
    layout = {"server A": ("ann", "bob"), "server B": ("cid",)}
    machines: dict[str, tuple[ServerMachine, ClusterMachine]] = {}
    subscriptions: dict[str, tuple[Subscribe, ...]] = {}
    owner: dict[object, str] = {}
    for server, names in layout.items():
        ids = iter([value for name in names for value in (f"eio-{name}", name)])
        machine = ServerMachine(namespaces=["/chat"])
        machine.eio.id_factory = machine.engine.id_factory = ids.__next__
        cluster = ClusterMachine(machine, uid=server.replace(" ", "-"))
        subscriptions[server] = tuple(cluster.subscriptions())
        for subscribe in subscriptions[server]:
            redis.subscribe(server, subscribe)
        for name in names:
            owner[f"ws-{name}"] = name
            sid = _connect(machine, f"ws-{name}")
            machine.engine.namespace("/chat").join(sid, "python")
        machines[server] = (machine, cluster)

    def frames_of(outputs: Sequence[object]) -> dict[str, tuple[str, ...]]:
        delivered: dict[str, tuple[str, ...]] = {}
        for output in outputs:
            if isinstance(output, WebSocketSend) and not output.control:
                for handle in output.handles:
                    delivered[owner[handle]] = delivered.get(owner[handle], ()) + tuple(
                        str(frame) for frame in output.frames
                    )
        return delivered

    published: list[tuple[str, Publish]] = []
    received: list[Received] = []

    def publish(sender: str, message: Publish, now: float) -> None:
        published.append((sender, message))
        for server, matched in redis.receivers(message.channel):
            outputs = machines[server][1].receive(message.channel, message.payload, now)
            delivered = frames_of(outputs)
            frames = tuple(dict.fromkeys(f for fs in delivered.values() for f in fs))
            received.append(
                Received(sender, server, message.channel, matched, tuple(delivered), frames)
            )

    machine, cluster = machines["server A"]
    local = frames_of(machine.emit("/chat", "said", "hi", rooms="python", sender="ann"))
    for message in cluster.broadcast("/chat", "said", "hi", rooms="python", except_="ann"):
        if isinstance(message, Publish):
            publish("server A", message, 1.0)

    class Client:  # the emitter's Redis client: what it publishes goes to the memory Redis
        def publish(self, channel: str, payload: bytes) -> int:
            publish("emitter", Publish(channel=channel, payload=payload), 2.0)
            return len(redis.receivers(channel))

    Emitter(Client()).of("/chat").to("python").emit("news", 1)
    return ClusterRun(
        {server: tuple(names) for server, names in layout.items()},
        subscriptions,
        local,
        tuple(published),
        tuple(received),
    )


def cluster_diagram(run: ClusterRun) -> str:
    """Emitter on top, Redis in the middle, the servers below it, their clients at the
    bottom; every line of text says one thing the run did."""
    servers = list(run.servers)
    # Redis: the channels and patterns, with who subscribed to each.
    subscribed: dict[tuple[str, str], list[str]] = {}
    for server, subscribes in run.subscriptions.items():
        for subscribe in subscribes:
            for channel in subscribe.channels:
                subscribed.setdefault(("SUBSCRIBE", channel), []).append(server)
            for pattern in subscribe.patterns:
                subscribed.setdefault(("PSUBSCRIBE", pattern), []).append(server)
    redis_lines = [
        (f"{verb} {name}", ", ".join(who))
        for (verb, name), who in sorted(
            subscribed.items(), key=lambda item: item[0][0] != "SUBSCRIBE"
        )
    ]
    column_width = 420.0
    width = 40 + column_width * len(servers)
    body: list[str] = []
    # The emitter.
    emitter_publish = [m for sender, m in run.published if sender == "emitter"]
    ex = width / 2
    body.append(_box(ex - 130, 14, 260, 40, "emitter", "Emitter (any process, e.g. a WSGI view)"))
    y = 54.0
    for message in emitter_publish:
        body.append(
            f'<line x1="{ex:.1f}" y1="{y:.1f}" x2="{ex:.1f}" y2="{y + 40:.1f}" stroke="{INK}" '
            'marker-end="url(#arrow)"/>'
        )
        body.append(
            label(
                ex + 8,
                y + 24,
                f"PUBLISH {message.channel}",
                text_anchor="start",
                font_family="monospace",
                class_="publish",
                data_source="emitter",
                data_channel=message.channel,
            )
        )
    # Redis.
    top = 96.0
    redis_height = 34 + LINE * len(redis_lines)
    body.append(
        f'<rect x="20" y="{top:.1f}" width="{width - 40:.1f}" height="{redis_height:.1f}" '
        f'rx="8" fill="#fdecea" stroke="#c0392b"/>'
        f'<text x="34" y="{top + 20:.1f}" font-weight="bold">Redis (pub/sub)</text>'
    )
    for k, (line, who) in enumerate(redis_lines):
        verb, _, name = line.partition(" ")
        body.append(
            f'<text class="subscription" data-verb="{verb}" data-name="{escape(name)}" '
            f'data-subscribers="{escape(who)}" x="34" y="{top + 38 + LINE * k:.1f}" '
            f'font-family="monospace" font-size="11">{escape(line)}'
            f'<tspan fill="{MUTED}" font-family="sans-serif">  ← {escape(who)}</tspan></text>'
        )
    link_top = top + redis_height
    server_top = link_top + 30 + LINE * (2 + len(run.received))
    client_top = server_top + 110
    for index, server in enumerate(servers):
        left = 20 + column_width * index
        sx = left + 40
        lines: list[tuple[str, str, dict[str, object]]] = []
        for sender, message in run.published:
            if sender == server:
                lines.append(
                    (
                        "↑",
                        f"PUBLISH {message.channel}",
                        {
                            "class_": "publish",
                            "data_source": server,
                            "data_channel": message.channel,
                        },
                    )
                )
        for got in run.received:
            if got.server != server:
                continue
            what = (
                f"→ {', '.join(got.clients)}"
                if got.clients
                else "(its own: ignored)"
                if got.sender == server
                else "(nobody here in the room)"
            )
            lines.append(
                (
                    "↓",
                    f"{got.channel} from {got.sender} {what}",
                    {
                        "class_": "received",
                        "data_server": server,
                        "data_sender": got.sender,
                        "data_channel": got.channel,
                    },
                )
            )
        body.append(
            f'<line x1="{sx:.1f}" y1="{server_top:.1f}" x2="{sx:.1f}" y2="{link_top:.1f}" '
            f'stroke="{INK}" marker-start="url(#arrow)" marker-end="url(#arrow)"/>'
        )
        for k, (arrow, text, data) in enumerate(lines):
            body.append(
                label(
                    sx + 10,
                    link_top + 22 + LINE * k,
                    f"{arrow} {text}",
                    text_anchor="start",
                    font_family="monospace",
                    font_size=11,
                    **data,
                )
            )
        cluster_uid = server.replace(" ", "-")
        body.append(
            _box(
                left,
                server_top,
                column_width - 40,
                50,
                server,
                f"ServerMachine + ClusterMachine(uid={cluster_uid!r})",
            )
        )
        clients = run.servers[server]
        slot = (column_width - 40) / len(clients)
        for k, client in enumerate(clients):
            cx = left + slot * k + slot / 2
            frames = list(run.local.get(client, ()))
            for got in run.received:
                if client in got.clients:
                    frames.extend(got.frames)
            body.append(
                f'<line x1="{cx:.1f}" y1="{server_top + 50:.1f}" x2="{cx:.1f}" '
                f'y2="{client_top:.1f}" stroke="{ACCENT}" marker-end="url(#arrow)"/>'
            )
            for j, frame in enumerate(frames):
                body.append(
                    label(
                        cx + 6,
                        server_top + 68 + LINE * j,
                        frame,
                        text_anchor="start",
                        font_family="monospace",
                        font_size=11,
                        fill=ACCENT,
                        class_="frame",
                        data_client=client,
                    )
                )
            body.append(_box(cx - 60, client_top, 120, 30, f"client {client}", None))
    return document(width, client_top + 44, body, "Two servers and an emitter on one Redis")


def _box(x: float, y: float, w: float, h: float, title: str, subtitle: str | None) -> str:
    parts = [
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
        f'fill="#eaf2fa" stroke="{ACCENT}"/>',
        f'<text x="{x + w / 2:.1f}" y="{y + (19 if subtitle else h / 2 + 4):.1f}" '
        f'text-anchor="middle" font-weight="bold">{escape(title)}</text>',
    ]
    if subtitle:
        parts.append(
            f'<text x="{x + w / 2:.1f}" y="{y + 36:.1f}" text-anchor="middle" font-size="11" '
            f'fill="{MUTED}">{escape(subtitle)}</text>'
        )
    return "".join(parts)


# -- benchmark plots ---------------------------------------------------------------------


def fenced_blocks(markdown: str) -> list[str]:
    """The contents of the page's fenced code blocks, in order."""
    return re.findall(r"^```[^\n]*\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)


def quoted_run(pattern: str, page: Path = BENCHMARKS_PAGE) -> str:
    """The first fenced block of ``page`` with a line matching ``pattern``."""
    for block in fenced_blocks(page.read_text(encoding="utf-8")):
        if re.search(pattern, block, flags=re.MULTILINE):
            return block
    raise LookupError(f"{page.name}: no fenced block with a line matching {pattern!r}")


def _load_plot_fanout() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plot_fanout", PLOT_FANOUT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fanout_plot() -> str:
    """``benchmarks/plot_fanout.py``'s picture of the quoted fan-out run, made scalable."""
    plot = _load_plot_fanout()
    svg: str = plot.draw(plot.read(quoted_run(r"^workload=\S+ server=")))
    match = re.match(r'<svg [^>]*width="(\d+)" height="(\d+)"', svg)
    assert match is not None, "plot_fanout.py draws an <svg> with its width and height"
    return svg.replace("<svg ", f'<svg viewBox="0 0 {match[1]} {match[2]}" ', 1)


CORE_LINE = re.compile(r"^op=(?P<op>\S+) (?P<rest>.*)$")


def series_colour(name: str) -> str:
    """plot_fanout.py's colours: ours blue (trio lighter), python-socketio orange, Node green."""
    if name.startswith("sansio_rooms"):
        return "#7fb3d5" if "trio" in name else "#2b7bba"
    if name.startswith("python_socketio"):
        return "#e67e22"
    return "#6aa84f" if name.startswith("node") else "#999999"


def core_figures(text: str) -> dict[str, dict[str, float]]:
    """``{op: {implementation: ns}}`` from ``core.py``'s ``op=`` lines."""
    rows: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        match = CORE_LINE.match(line.strip())
        if match:
            for key, value in re.findall(r"(\w+)_ns=([\d.]+)", match["rest"]):
                rows.setdefault(match["op"], {})[key] = float(value)
    return rows


def cluster_figures(text: str) -> dict[str, dict[str, float]]:
    """``{measure: {server or emitter: rate}}`` from ``cluster.py``'s lines."""
    rows: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        server = re.match(r"^server=(\S+) cluster_deliveries_per_s=(\d+)", line)
        if server:
            rows.setdefault("deliveries/s, two servers", {})[server[1]] = float(server[2])
        emitter = re.match(r"^emitter=(\S+) publishes_per_s=(\d+)", line)
        if emitter:
            rows.setdefault("emitter publishes/s", {})[emitter[1]] = float(emitter[2])
    return rows


def bar_chart(rows: Mapping[str, Mapping[str, float]], unit: str, title: str) -> str:
    """Grouped horizontal bars on a log scale, each labelled with its value."""
    if not rows:
        raise ValueError(f"no figures for {title!r}")
    values = [v for series in rows.values() for v in series.values()]
    low = math.floor(math.log10(min(values)))
    high = math.ceil(math.log10(max(values)))
    if high == low:
        high += 1
    left = 20 + max(text_width(name, 11) for series in rows.values() for name in series)
    group_width = 130.0
    span = 520.0

    def x(value: float) -> float:
        return left + span * (math.log10(value) - low) / (high - low)

    bar, gap = 16, 16
    y = 30.0
    body: list[str] = []
    for group, series in rows.items():
        body.append(label(12, y, group, text_anchor="start", font_weight="bold"))
        y += 8
        for name, value in series.items():
            end = x(value)
            colour = series_colour(name)
            figure = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
            body.append(
                f'<text x="{left - 6:.1f}" y="{y + bar - 4:.1f}" text-anchor="end" '
                f'font-size="11">{escape(name)}</text>'
                f'<rect class="bar" data-group="{escape(group)}" data-series="{escape(name)}" '
                f'data-value="{value!r}" x="{left:.1f}" y="{y:.1f}" width="{end - left:.1f}" '
                f'height="{bar - 3}" fill="{colour}"/>'
                f'<text x="{end + 4:.1f}" y="{y + bar - 4:.1f}" font-size="11">'
                f"{figure} {escape(unit)}</text>"
            )
            y += bar
        y += gap
    axis = [f'<line x1="{left:.1f}" y1="18" x2="{left:.1f}" y2="{y:.1f}" stroke="{INK}"/>']
    for power in range(low, high + 1):
        px = x(10.0**power)
        axis.append(
            f'<line x1="{px:.1f}" y1="18" x2="{px:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{px:.1f}" y="{y + 14:.1f}" text-anchor="middle" font-size="11">'
            f"{10.0**power:,.0f}</text>"
        )
    width = left + span + group_width
    caption = f'<text x="{left:.1f}" y="{y + 32:.1f}" fill="{MUTED}">{escape(title)}</text>'
    return document(width, y + 44, [*axis, *body, caption], title)


# -- the catalogue -----------------------------------------------------------------------


def _socket_states() -> Picture:
    machine = socket_machine()
    return Picture(
        state_diagram(machine),
        f"Drawn from `sansio_rooms.TRANSITIONS` ({len(machine.transitions)} transitions: "
        "an operation missing for a state is refused with `InvalidStateError`); ↻: allowed, "
        "the state stays. The ways in are found by connecting sockets to a `RoomEngine`.",
    )


def _session_states() -> Picture:
    machine = session_machine()
    return Picture(
        state_diagram(machine),
        f"Drawn from `sansio_rooms.SESSION_TRANSITIONS` ({len(machine.transitions)} "
        "transitions); the ways in are found by opening a session of each kind on an "
        "`EngineIOServer` and asking it `state_of`.",
    )


def _broadcast() -> Picture:
    run = broadcast_run()
    return Picture(
        sequence_diagram(run),
        "Traced from a run of `ServerMachine` (`sys.setprofile`): every call between the "
        "core's public objects, with its arguments, and what it returned (dashed). The "
        "packet is encoded once for every recipient: bob's WebSocket gets the frame, cid's "
        "waiting long-polling GET is answered with the same packet, ann (the sender) gets "
        "nothing.",
    )


def _cluster() -> Picture:
    run = cluster_run()
    return Picture(
        cluster_diagram(run),
        "From a run of two `ServerMachine` + `ClusterMachine` and an `Emitter` on an in-memory "
        "Redis: the subscriptions are those the machines ask for, the messages those they "
        "publish (Node's `@socket.io/redis-adapter` format), the frames those they send.",
    )


def _bench_core() -> Picture:
    rows = core_figures(quoted_run(r"^op=\S+ sansio_rooms_ns="))
    return Picture(
        bar_chart(rows, "ns", "ns per unit (log scale): lower is faster"),
        "`benchmarks/core.py`, the run quoted in docs/benchmarks.md: ns per connect or "
        "join, per delivery, per disconnect.",
    )


def _bench_fanout() -> Picture:
    return Picture(
        fanout_plot(),
        "`benchmarks/fanout.py`, the run quoted in docs/benchmarks.md, drawn by "
        "`benchmarks/plot_fanout.py` (deliveries per second; CPU µs per delivery).",
    )


def _bench_cluster() -> Picture:
    rows = cluster_figures(quoted_run(r"^server=\S+ cluster_deliveries_per_s="))
    return Picture(
        bar_chart(rows, "/s", "per second (log scale): higher is faster"),
        "`benchmarks/cluster.py`, the run quoted in docs/benchmarks.md: deliveries per second "
        "over two servers on one Redis, and the emitters' publishes per second.",
    )


DIAGRAMS: dict[str, Callable[[], Picture]] = {
    "socket-states": _socket_states,
    "session-states": _session_states,
    "broadcast-sequence": _broadcast,
    "cluster-topology": _cluster,
    "bench-core": _bench_core,
    "bench-fanout": _bench_fanout,
    "bench-cluster": _bench_cluster,
}

_CORE_FILES = tuple(sorted(Path(sansio_rooms.__file__).parent.glob("*.py")))
#: What each picture is drawn from: the page is rebuilt when one of them changes.
SOURCES: dict[str, tuple[Path, ...]] = {
    name: (Path(__file__), *_CORE_FILES) for name in ("socket-states", "session-states")
} | {
    "broadcast-sequence": (Path(__file__), *_CORE_FILES),
    "cluster-topology": (Path(__file__), *_CORE_FILES),
    "bench-core": (Path(__file__), BENCHMARKS_PAGE),
    "bench-fanout": (Path(__file__), BENCHMARKS_PAGE, PLOT_FANOUT),
    "bench-cluster": (Path(__file__), BENCHMARKS_PAGE),
}


def main() -> int:
    """``python docs/_ext/diagrams.py OUTDIR``: write every picture as OUTDIR/NAME.svg."""
    if len(sys.argv) != 2:
        print(main.__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, draw in DIAGRAMS.items():
        (out / f"{name}.svg").write_text(draw().svg, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
