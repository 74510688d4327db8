"""A small chat driven through the rooms engine, with nothing but the engine: no sockets.

People connect, join rooms, and talk: to one room, to a union of rooms (each person hears a
message once even when in several of them), to a room except another room, and always
without hearing their own messages. Then one person leaves, and while their disconnect is
in its first phase (rooms intact) the others in their rooms are told who left.

The "transport" is a dict of inboxes: the host loop a real server runs is ``deliver()``.
Run it with ``make demo`` (or ``python examples/chat.py``).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from sansio_rooms import Deliveries, Namespace, RoomEngine

inboxes: dict[str, list[str]] = defaultdict(list)
names: dict[str, str] = {}


def deliver(deliveries: Deliveries) -> None:
    """What a binding does with the engine's output: send the one payload to each id."""
    payload = deliveries.payload
    for sid in deliveries.recipients:
        inboxes[sid].append(payload)


def connect(chat: Namespace, name: str) -> str:
    (connected,) = chat.connect()  # notices are off: the only output is Connected
    sid: str = connected.sid  # type: ignore[union-attr]
    names[sid] = name
    return sid


def say(chat: Namespace, sid: str, text: str, **selection: Any) -> None:
    deliveries = chat.emit(f"{names[sid]}: {text}", sender=sid, **selection)
    to = ", ".join(names[r] for r in deliveries.recipients) or "nobody"
    print(f"  {names[sid]} says {text!r} -> {to}")
    deliver(deliveries)


def main() -> None:
    counter = itertools.count(1)
    engine = RoomEngine(id_factory=lambda: f"sock{next(counter)}")
    chat = engine.namespace("/chat")

    print("== People connect and join rooms")
    ann, bob, cid, dee = (connect(chat, n) for n in ("ann", "bob", "cid", "dee"))
    chat.join(ann, ["python", "trio"])
    chat.join(bob, "python")
    chat.join(cid, ["trio", "asyncio"])
    chat.join(dee, ["python", "asyncio"])
    for sid in (ann, bob, cid, dee):
        rooms = [r for r in chat.rooms_of(sid) if r != sid]
        print(f"  {names[sid]} ({sid}) is in {rooms}")

    print("== One room, sender excluded")
    say(chat, ann, "anyone tried 3.13?", rooms="python")
    print("== A union of rooms: everyone in python or asyncio hears it once")
    say(chat, bob, "release party tonight", rooms=["python", "asyncio"])
    print("== A room except another room")
    say(chat, cid, "trio folks only, not asyncio folks", rooms="trio", except_="asyncio")
    print("== The whole namespace")
    say(chat, dee, "hello everyone")

    print("== ann leaves: the others in her rooms are told while she is disconnecting")
    chat.begin_disconnect(ann, "client namespace disconnect")
    her_rooms = [r for r in chat.rooms_of(ann) if r != ann]
    print(f"  during disconnecting, ann's rooms are still {her_rooms}")
    say(chat, ann, "(has left the chat)", rooms=her_rooms)
    chat.finish_disconnect(ann)
    print(f"  after disconnect: rooms of the namespace = {sorted(map(str, chat.rooms()))}")
    say(chat, bob, "bye ann", rooms="python")

    print("== Inboxes")
    for sid in (ann, bob, cid, dee):
        print(f"  {names[sid]}:")
        for message in inboxes[sid]:
            print(f"    {message}")


if __name__ == "__main__":
    main()
