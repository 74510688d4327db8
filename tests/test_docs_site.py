"""The documentation site's pictures say what the code does, and its examples import only
public names.

The pictures are drawn when the site is built (docs/_ext/diagrams.py, `make docs`); here each
is read back and compared with what it was drawn from: a transition added to or removed from
a table and not to the picture (or the other way round) fails, as does a broadcast or a
cluster picture that no longer matches a run of the machines, or a benchmark plot that no
longer matches the run docs/benchmarks.md quotes.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import sansio_rooms
from sansio_rooms import (
    SESSION_TRANSITIONS,
    TRANSITIONS,
    ClusterMachine,
    Operation,
    Publish,
    ServerMachine,
    SessionState,
    SocketState,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
diagrams: Any = importlib.import_module("diagrams")
SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def drawn(svg: str, kind: str) -> Counter[tuple[str, str, str]]:
    """The (source, input, target) of every element of class ``kind``, with multiplicity."""
    return Counter(
        (e.get("data-source", ""), e.get("data-input", ""), e.get("data-target", ""))
        for e in parse(svg).iter()
        if e.get("class") == kind
    )


def table(transitions: dict[tuple[Any, Any], Any]) -> Counter[tuple[str, str, str]]:
    return Counter(
        (state.value, event.value, "gone" if after is None else after.value)
        for (state, event), after in transitions.items()
    )


def edges(svg: str) -> Counter[tuple[str, str]]:
    return Counter(
        (e.get("data-source", ""), e.get("data-target", ""))
        for e in parse(svg).iter()
        if e.get("class") == "edge"
    )


# -- the state machines ------------------------------------------------------------------


def test_the_socket_picture_draws_every_transition_of_the_table_once_and_nothing_else() -> None:
    svg = diagrams.DIAGRAMS["socket-states"]().svg
    assert drawn(svg, "transition") == table(TRANSITIONS)
    # Each label is the operation itself, as the engine names it.
    texts = {
        e.get("data-input", ""): "".join(e.itertext())
        for e in parse(svg).iter()
        if e.get("data-input")
    }
    assert {op.value for op in Operation} - set(texts) == set()  # every operation appears
    assert all(text.endswith(name) for name, text in texts.items())


def test_the_session_picture_draws_every_transition_of_the_table_once_and_nothing_else() -> None:
    svg = diagrams.DIAGRAMS["session-states"]().svg
    assert drawn(svg, "transition") == table(SESSION_TRANSITIONS)


@pytest.mark.parametrize(
    ("name", "states", "transitions"),
    [
        ("socket-states", SocketState, TRANSITIONS),
        ("session-states", SessionState, SESSION_TRANSITIONS),
    ],
)
def test_each_state_is_one_box_and_each_arrow_joins_two_states_of_a_transition(
    name: str, states: Any, transitions: dict[tuple[Any, Any], Any]
) -> None:
    svg = diagrams.DIAGRAMS[name]().svg
    boxes = [e.get("data-state") for e in parse(svg).iter() if e.get("class") == "state"]
    assert boxes == [state.value for state in states]  # in the enum's order
    moves = {(s, t) for (s, _, t) in table(transitions) if s != t}
    entries = {(s, t) for (s, _, t) in drawn(svg, "entry")}
    # One arrow per pair of states that a transition (or a way in) joins; no other arrow.
    assert edges(svg) == Counter(moves | entries)


def test_the_ways_in_are_those_the_engine_and_the_server_take() -> None:
    assert set(drawn(diagrams.DIAGRAMS["socket-states"]().svg, "entry")) == {
        ("start", "connect(sid, pending=True)", "pending"),
        ("start", "connect(sid)", "connected"),
    }
    assert {
        target for _, _, target in drawn(diagrams.DIAGRAMS["session-states"]().svg, "entry")
    } == {
        "polling",
        "websocket",
    }


def test_a_changed_table_changes_the_picture() -> None:
    """The picture follows the table it is given: drift can only come from not rebuilding."""
    machine = diagrams.socket_machine()
    removed = machine.transitions[0]
    added = diagrams.Transition("disconnecting", "join", "disconnecting")
    changed = dataclasses.replace(machine, transitions=(*machine.transitions[1:], added))
    svg = diagrams.state_diagram(changed)
    expected = table(TRANSITIONS) - Counter([astuple(removed)]) + Counter([astuple(added)])
    assert drawn(svg, "transition") == expected


def astuple(transition: Any) -> tuple[str, str, str]:
    return (transition.source, transition.input, transition.target)


# -- the broadcast ---------------------------------------------------------------------


def test_the_broadcast_picture_ends_with_the_frames_the_machine_returned() -> None:
    run = diagrams.broadcast_run()
    frames = [m.text for m in run.messages if m.kind == "frame"]
    assert frames == [
        'ann: WebSocket frame 42/chat,["say","hi"]',
        'bob: WebSocket frame 42/chat,["said","hi"]',
        'cid: HTTP 200, its GET: 42/chat,["said","hi"]',
    ]
    sends = [o for o in run.outputs if type(o).__name__ == "WebSocketSend"]
    responses = [o for o in run.outputs if type(o).__name__ == "HttpResponse"]
    assert [(s.handles, s.frames) for s in sends] == [(("ws-bob",), ('42/chat,["said","hi"]',))]
    assert [(r.handle, r.body) for r in responses] == [("get-cid", b'42/chat,["said","hi"]')]


def test_the_broadcast_picture_shows_calls_between_public_objects_only() -> None:
    run = diagrams.broadcast_run()
    calls = [m.text.partition("(")[0] for m in run.messages if m.kind == "call"]
    for call in calls:
        owner, _, method = call.partition(".")
        assert owner in sansio_rooms.__all__, call
        assert not method.startswith("_"), call
    emit = calls.index("ServerMachine.emit")
    # What the protocol page says: the packet is encoded once for every recipient, the
    # recipients chosen by the rooms engine, the frames built by the Engine.IO server.
    assert calls[emit:].count("encode_event") == 1
    assert "Namespace.select_routes" in calls[emit:]
    assert "EngineIOServer.broadcast" in calls[emit:]


def test_the_broadcast_svg_holds_every_message_in_order() -> None:
    run = diagrams.broadcast_run()
    svg = diagrams.sequence_diagram(run)
    groups = [
        e
        for e in parse(svg).iter(f"{SVG}g")
        if e.get("class") in ("call", "return", "frame", "note")
    ]
    assert [g.get("class") for g in groups] == [m.kind for m in run.messages]
    for group, message in zip(groups, run.messages, strict=True):
        text = " ".join("".join(t.itertext()) for t in group.iter(f"{SVG}text"))
        assert text.replace(", ", ",").replace(" ", "") == message.text.replace(", ", ",").replace(
            " ", ""
        )


# -- the cluster -----------------------------------------------------------------------


def test_the_cluster_picture_shows_the_subscriptions_the_machines_ask_for() -> None:
    run = diagrams.cluster_run()
    svg = diagrams.cluster_diagram(run)
    shown = {
        (e.get("data-verb"), e.get("data-name"), e.get("data-subscribers"))
        for e in parse(svg).iter()
        if e.get("class") == "subscription"
    }
    expected: dict[tuple[str, str], list[str]] = {}
    for server in run.servers:
        uid = server.replace(" ", "-")
        for subscribe in ClusterMachine(
            ServerMachine(namespaces=["/chat"]), uid=uid
        ).subscriptions():
            for channel in subscribe.channels:
                expected.setdefault(("SUBSCRIBE", channel), []).append(server)
            for pattern in subscribe.patterns:
                expected.setdefault(("PSUBSCRIBE", pattern), []).append(server)
    assert shown == {(verb, name, ", ".join(who)) for (verb, name), who in expected.items()}


def test_the_cluster_picture_shows_who_delivers_what() -> None:
    run = diagrams.cluster_run()
    machine = ClusterMachine(ServerMachine(namespaces=["/chat"]), uid="server-A")
    (publish,) = machine.broadcast("/chat", "said", "hi", rooms="python", except_="ann")
    assert isinstance(publish, Publish)
    assert [(sender, m.channel) for sender, m in run.published] == [
        ("server A", publish.channel),
        ("emitter", publish.channel),
    ]
    assert run.local == {"bob": ('42/chat,["said","hi"]',)}  # ann sent it
    got = {(r.sender, r.server): (r.clients, r.frames) for r in run.received}
    assert got == {
        ("server A", "server A"): ((), ()),  # its own message: ignored
        ("server A", "server B"): (("cid",), ('42/chat,["said","hi"]',)),
        ("emitter", "server A"): (("ann", "bob"), ('42/chat,["news",1]',)),
        ("emitter", "server B"): (("cid",), ('42/chat,["news",1]',)),
    }
    svg = diagrams.cluster_diagram(run)
    frames = Counter(
        (e.get("data-client"), "".join(e.itertext()))
        for e in parse(svg).iter()
        if e.get("class") == "frame"
    )
    assert frames == Counter(
        {
            ("ann", '42/chat,["news",1]'): 1,
            ("bob", '42/chat,["said","hi"]'): 1,
            ("bob", '42/chat,["news",1]'): 1,
            ("cid", '42/chat,["said","hi"]'): 1,
            ("cid", '42/chat,["news",1]'): 1,
        }
    )


# -- the benchmark plots ---------------------------------------------------------------


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fanout_plots_are_drawn_from_the_quoted_run() -> None:
    plot = load(ROOT / "benchmarks" / "plot_fanout.py")
    page = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    expected = plot.draw(plot.read(page))
    # The site's: drawn at build time from the fenced block.
    assert re.sub(r' viewBox="[^"]*"', "", diagrams.fanout_plot(), count=1) == expected
    # The page's own image (docs/img/fanout.svg, shown on GitHub too): the same drawing.
    assert (DOCS / "img" / "fanout.svg").read_text(encoding="utf-8") == expected, (
        "docs/img/fanout.svg is not the drawing of the run quoted in docs/benchmarks.md: "
        "python benchmarks/plot_fanout.py run.txt docs/img/fanout.svg"
    )


@pytest.mark.parametrize(
    ("name", "figure"),
    [
        ("bench-core", r"^op=\S+ .*"),
        (
            "bench-cluster",
            r"^(?:server=\S+ cluster_deliveries_per_s|emitter=\S+ publishes_per_s)=.*",
        ),
    ],
)
def test_every_quoted_figure_is_one_bar(name: str, figure: str) -> None:
    page = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    lines = re.findall(figure, page, flags=re.MULTILINE)
    if name == "bench-core":
        quoted = [float(v) for line in lines for v in re.findall(r"_ns=([\d.]+)", line)]
    else:
        quoted = [float(re.search(r"_per_s=(\d+)", line)[1]) for line in lines]  # type: ignore[index]
    bars = [
        float(e.get("data-value", ""))
        for e in parse(diagrams.DIAGRAMS[name]().svg).iter()
        if e.get("class") == "bar"
    ]
    assert quoted and sorted(bars) == sorted(quoted)


# -- the examples and the API reference ------------------------------------------------

PUBLIC = ("sansio_rooms", "sansio_rooms_asyncio", "sansio_rooms_trio")


def imports(text: str) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every import statement in the page's examples (doctest lines
    and fenced Python blocks)."""
    found = []
    for line in text.splitlines():
        code = re.sub(r"^\s*(?:>>>|\.\.\.)\s?", "", line).partition("#")[0]
        match = re.match(r"\s*from\s+([\w.]+)\s+import\s+(.+)", code)
        if match:
            names = [n.strip().split(" as ")[0] for n in match[2].strip("()").split(",")]
            found.append((match[1], [n for n in names if n and not n.startswith("#")]))
            continue
        match = re.match(r"\s*import\s+([\w.]+)", code)
        if match:
            found.append((match[1], []))
    return found


PAGES = sorted([*DOCS.glob("*.md"), *DOCS.glob("api/*.md"), ROOT / "README.md"])


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_examples_import_public_names_only(page: Path) -> None:
    for module, names in imports(page.read_text(encoding="utf-8")):
        if module.partition(".")[0] not in PUBLIC:
            continue
        assert not any(part.startswith("_") for part in module.split(".")), (page.name, module)
        exported = importlib.import_module(module)
        for name in names:
            public = getattr(exported, "__all__", None)
            is_submodule = importlib.util.find_spec(f"{module}.{name}") is not None
            assert is_submodule or (public is not None and name in public), (
                page.name,
                module,
                name,
            )


def test_the_import_scanner_sees_private_imports() -> None:
    """The test above would catch the imports protocol.md had."""
    old = ">>> from sansio_rooms._server import ServerMachine, ConnectRequest"
    assert imports(old) == [("sansio_rooms._server", ["ServerMachine", "ConnectRequest"])]


def test_every_public_name_of_the_core_has_a_section_in_the_api_reference() -> None:
    extension: Any = importlib.import_module("sansio_sphinx")
    sections = {
        name: extension._defining_module(sansio_rooms, name) for name in sansio_rooms.__all__
    }
    assert all(module.startswith("sansio_rooms._") for module in sections.values())
    # Each section is titled from its module's docstring.
    for module in set(sections.values()):
        title, _ = extension._title(importlib.import_module(module))
        assert title and "``" not in title, module
