"""What a fuzz session does, as data: steps a generator writes and the executor performs.

Being values, the steps of a session can be replayed, cut down to the few that still make the
server fail, printed exactly (:func:`render`), and saved as JSON (:func:`to_json`).

In a query string, ``{sid}`` stands for the Engine.IO session id the server handed out in this
session (the first open packet received), ``{sid2}`` for the second one.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Http",
    "Session",
    "Sleep",
    "Step",
    "WsClose",
    "WsExpect",
    "WsOpen",
    "WsSend",
    "from_json",
    "render",
    "render_data",
    "to_json",
]


@dataclass(frozen=True, slots=True)
class WsOpen:
    """Open WebSocket number ``slot`` at ``/socket.io/?<query>`` (one input)."""

    slot: int
    query: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class WsSend:
    """Send one frame (one input): ``str`` as text; ``bytes`` as binary, or as a text frame
    (invalid UTF-8, say) with ``text=True``."""

    slot: int
    data: str | bytes
    label: str = ""
    text: bool = False


@dataclass(frozen=True, slots=True)
class WsExpect:
    """Wait (at most ``timeout`` s) for a frame starting with ``prefix`` (not an input)."""

    slot: int
    prefix: str
    timeout: float = 2.0


@dataclass(frozen=True, slots=True)
class WsClose:
    """Close the WebSocket: with a close frame, or ``abort`` (TCP reset, no goodbye)."""

    slot: int
    abort: bool = False


@dataclass(frozen=True, slots=True)
class Http:
    """One HTTP request to ``/socket.io/?<query>`` (one input). ``wait=False`` sends it in the
    background (a parked GET, a duplicate GET); it is abandoned when the session ends."""

    method: str
    query: str
    body: bytes = b""
    content_type: str | None = "text/plain;charset=UTF-8"
    wait: bool = True
    label: str = ""


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Step = WsOpen | WsSend | WsExpect | WsClose | Http | Sleep


@dataclass(slots=True)
class Session:
    """A generated session: its kind (the scenario), the seed it came from, its steps."""

    kind: str
    seed: int
    steps: list[Step] = field(default_factory=list)

    def labels(self) -> list[str]:
        labels = (getattr(step, "label", "") for step in self.steps)
        return [label for label in labels if label]


# -- exact and readable ------------------------------------------------------------------------

_RUN = 12  # runs of one character at least this long are written as 'x' * n


def render_data(data: str | bytes, limit: int = 400) -> str:
    """A Python expression equal to ``data``, with long runs of one character written as
    ``'x' * n``: ``'421["echo",' + '[' * 600 + '1e400' + ']' * 600 + ']'``. Past ``limit``
    characters of output the middle is elided (``...``), and the length said."""
    parts: list[str] = []
    literal_start = 0
    i = 0
    n = len(data)
    while i < n:
        j = i + 1
        while j < n and data[j] == data[i]:
            j += 1
        if j - i >= _RUN:
            if literal_start < i:
                parts.append(repr(data[literal_start:i]))
            parts.append(f"{data[i : i + 1]!r} * {j - i}")
            literal_start = j
        i = j
    if literal_start < n or not parts:
        parts.append(repr(data[literal_start:]))
    text = " + ".join(parts)
    if len(text) > limit:
        text = f"{text[: limit // 2]} ... {text[-limit // 2 :]}  (len {n})"
    return text


def render(step: Step, limit: int = 400) -> str:
    """One line saying exactly what the step sends."""
    if isinstance(step, WsOpen):
        return f"ws{step.slot} OPEN /socket.io/?{step.query}"
    if isinstance(step, WsSend):
        kind = "text(bytes)" if step.text else ("binary" if isinstance(step.data, bytes) else "")
        return f"ws{step.slot} SEND {kind + ' ' if kind else ''}{render_data(step.data, limit)}"
    if isinstance(step, WsExpect):
        return f"ws{step.slot} WAIT for a frame starting {step.prefix!r} ({step.timeout} s)"
    if isinstance(step, WsClose):
        return f"ws{step.slot} {'ABORT (TCP reset)' if step.abort else 'CLOSE'}"
    if isinstance(step, Http):
        line = f"{step.method} /socket.io/?{step.query}"
        if step.content_type != "text/plain;charset=UTF-8":
            line += f" content-type={step.content_type!r}"
        if step.body:
            line += f" body={render_data(step.body, limit)}"
        if not step.wait:
            line += " (in the background)"
        return line
    return f"SLEEP {step.seconds} s"


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return value


_KINDS: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (WsOpen, WsSend, WsExpect, WsClose, Http, Sleep)
}


def to_json(steps: list[Step]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        fields = {name: _encode(getattr(step, name)) for name in step.__dataclass_fields__}
        out.append({"step": type(step).__name__, **fields})
    return out


def from_json(items: list[dict[str, Any]]) -> list[Step]:
    steps: list[Step] = []
    for item in items:
        fields = {name: _decode(value) for name, value in item.items() if name != "step"}
        steps.append(_KINDS[item["step"]](**fields))
    return steps
