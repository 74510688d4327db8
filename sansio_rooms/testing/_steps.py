"""Steps: the plain operations the state machine performs, as values that print as Python.

A run of the machine is a list of steps (``connect('/', 'a')``, ``join('/', 'a', ['r'])``,
...). A failure is reported as that list, and ``replay`` runs such a list again against an
adapter: ``op.join('/', 'a', ['r'])`` builds the step that prints as ``join('/', 'a', ['r'])``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import attrs

__all__ = ["Step", "op"]

#: Every operation a step may name, with its positional parameters after ``nsp``.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "connect": ("nsp", "sid"),
    "connect_pending": ("nsp", "sid"),
    "accept": ("nsp", "sid"),
    "refuse": ("nsp", "sid"),
    "join": ("nsp", "sid", "rooms"),
    "leave": ("nsp", "sid", "rooms"),
    "begin_disconnect": ("nsp", "sid"),
    "finish_disconnect": ("nsp", "sid"),
    "disconnect": ("nsp", "sid"),
    "broadcast": ("nsp", "rooms", "except_", "sender"),
    "members_of": ("nsp", "rooms", "except_", "sids"),
    "sockets_join": ("nsp", "join", "rooms", "except_", "sids"),
    "sockets_leave": ("nsp", "leave", "rooms", "except_", "sids"),
    "disconnect_sockets": ("nsp", "rooms", "except_", "sids"),
    "close_room": ("nsp", "room"),
    "emit_with_ack": ("nsp", "rooms", "except_", "sender", "timeout"),
    "ack": ("nsp", "sid", "ack_id", "response"),
    "advance": ("seconds",),
}
#: Parameters shown by name, the way a reader would write the call.
_KEYWORDS = frozenset({"rooms", "except_", "sender", "sids", "timeout"})


@attrs.frozen(repr=False, eq=False)
class Once:
    """An iterator argument (rooms given as ``iter([...])``) that a replay can build again."""

    items: tuple[Any, ...]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __repr__(self) -> str:
        return f"iter([{', '.join(source(item) for item in self.items)}])"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Once) and other.items == self.items

    def __hash__(self) -> int:
        return hash(self.items)


def source(value: object) -> str:
    """``value`` as Python source that builds an equal value (``object()`` for an object)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if type(value) is list:
        return f"[{', '.join(source(item) for item in value)}]"
    if type(value) is tuple:
        inner = ", ".join(source(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if type(value) is dict:
        items = ", ".join(f"{source(key)}: {source(item)}" for key, item in value.items())
        return f"{{{items}}}"
    if type(value) is object:
        return "object()"
    return repr(value)


def fresh(value: object) -> object:
    """A new copy of an argument, for one side: an iterator is consumed by whoever reads it,
    and neither side may see what the other did to its arguments."""
    if isinstance(value, Once):
        return iter(value.items)
    if isinstance(value, (list, set, dict)) and type(value) in (list, set, dict):
        return value.copy()
    return value


@attrs.frozen(repr=False)
class Step:
    """One operation, as a value: ``name`` and its arguments in ``OPERATIONS`` order."""

    name: str
    args: tuple[Any, ...]

    def __attrs_post_init__(self) -> None:
        parameters = OPERATIONS.get(self.name)
        if parameters is None:
            raise TypeError(f"no such operation: {self.name} (operations: {', '.join(OPERATIONS)})")
        if len(self.args) != len(parameters):
            raise TypeError(f"{self.name}() takes {', '.join(parameters)}, got {self.args!r}")

    @property
    def arguments(self) -> dict[str, Any]:
        return dict(zip(OPERATIONS[self.name], self.args, strict=True))

    def __repr__(self) -> str:
        parts = [
            f"{name}={source(value)}" if name in _KEYWORDS else source(value)
            for name, value in self.arguments.items()
        ]
        return f"{self.name}({', '.join(parts)})"


class _Factory:
    """``op.join('/', 'a', ['r'])`` is ``Step('join', ('/', 'a', ['r']))``; an iterator
    argument is kept so that the step can run more than once."""

    def __getattr__(self, name: str) -> Callable[..., Step]:
        if name not in OPERATIONS:
            raise AttributeError(name)

        def build(*args: Any, **keywords: Any) -> Step:
            parameters = OPERATIONS[name]
            values = dict(zip(parameters, args, strict=False))
            values.update(keywords)
            return Step(
                name,
                tuple(
                    Once(tuple(value)) if isinstance(value, Iterator) else value
                    for value in (
                        values.get(key, [] if key == "except_" else None) for key in parameters
                    )
                ),
            )

        return build

    def __dir__(self) -> list[str]:
        return list(OPERATIONS)


#: Builds steps by operation name: ``op.connect('/', 'a')``, ``op.broadcast('/', rooms=['r'],
#: sender='a')``. Arguments left out are ``None`` (``except_``: ``[]``).
op: Any = _Factory()
