"""Codec throughput of EVENT packets: sansio_rooms against python-socketio + python-engineio.

Each row takes an EVENT (text or binary, small or about 10 kB) through the whole wire stack a
server runs, both ways, in the same run:

* ``websocket_*``: EVENT <-> the WebSocket frames (Socket.IO packet + Engine.IO message
  prefix; binary attachments as binary frames). Theirs: ``socketio.packet.Packet`` and
  ``engineio.packet.Packet``.
* ``polling_*``: EVENT <-> an HTTP long-polling body (``\x1e``-joined, binary as base64).
  Theirs: ``socketio.packet.Packet`` and ``engineio.payload.Payload``.

Both sides build their packet objects inside the timed loop, and decoding ends with the
Socket.IO packet, attachments in place. With the ``speedups`` extra installed (pybase64),
base64 runs in SIMD; the line ``base64=...`` says which implementation ran.

Usage: ``python benchmarks/protocol.py [--quick]``. One line per row::

    row=<name> sansio_rooms_ops=<x> theirs_ops=<y> speedup=<x/y>

ops are operations per second, best of several interleaved repeats.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from typing import Any, TypeAlias

from engineio import packet as eio_packet  # type: ignore[import-untyped]
from engineio import payload as eio_payload
from socketio import packet as sio_packet  # type: ignore[import-untyped]

from sansio_rooms import _engineio
from sansio_rooms._engineio import (
    EioPacket,
    EioPacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)
from sansio_rooms._socketio import SioDecoder, SioPacket, SioPacketType, encode_sio_packet

# Hoisted as a server machine would, and as python-socketio's module-level ints are.
EVENT = SioPacketType.EVENT
MESSAGE = EioPacketType.MESSAGE


def _text_10k() -> list[Any]:
    items = [
        {
            "id": i,
            "name": f"item-{i}",
            "owner": {"user": "ann", "room": f"room-{i % 7}"},
            "tags": ["red", "green"],
            "score": i * 1.25,
            "active": i % 2 == 0,
        }
        for i in range(78)
    ]
    return ["update", {"items": items, "total": len(items)}]


PAYLOADS: dict[str, list[Any]] = {
    "text_small": ["msg", {"user": "ann", "text": "hello"}],
    "text_10k": _text_10k(),
    "binary_small": ["msg", bytes(range(16))],
    "binary_10k": ["file", {"name": "a.bin"}, bytes(range(256)) * 40],
}


def _best_ops_pair(
    ours: Callable[[], object], theirs: Callable[[], object], *, repeat: int, min_time: float
) -> tuple[float, float]:
    """Best ops/s of each, their repeats interleaved so that drift in the machine's speed
    affects both sides alike."""
    timers = [timeit.Timer(ours), timeit.Timer(theirs)]
    numbers = []
    for timer in timers:
        number, elapsed = timer.autorange()
        numbers.append(max(1, int(number * min_time / elapsed)))
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, timer in enumerate(timers):
            best[i] = min(best[i], timer.timeit(numbers[i]) / numbers[i])
    return 1 / best[0], 1 / best[1]


Row: TypeAlias = tuple[str, Callable[[], object], Callable[[], object]]


def _websocket_rows(name: str, data: list[Any]) -> list[Row]:
    def ours_encode() -> object:
        return [
            encode_packet(EioPacket(type=MESSAGE, data=m))
            for m in encode_sio_packet(SioPacket(type=EVENT, data=data))
        ]

    def theirs_encode() -> object:
        encoded = sio_packet.Packet(sio_packet.EVENT, data=data).encode()
        messages = encoded if isinstance(encoded, list) else [encoded]
        return [eio_packet.Packet(eio_packet.MESSAGE, data=m).encode() for m in messages]

    frames = ours_encode()
    assert frames == theirs_encode()  # the same bytes on the wire, so the same work to decode
    feed = SioDecoder().feed  # one decoder per connection, as a server holds it

    def ours_decode() -> Any:
        for frame in frames:  # type: ignore[attr-defined]
            packet = feed(decode_packet(frame).data)
        return packet

    def theirs_decode() -> Any:
        first, *attachments = (eio_packet.Packet(encoded_packet=f).data for f in frames)  # type: ignore[attr-defined]
        packet = sio_packet.Packet(encoded_packet=first)
        for attachment in attachments:
            packet.add_attachment(attachment)
        return packet

    assert ours_decode().data == theirs_decode().data == data
    return [
        (f"websocket_encode_{name}", ours_encode, theirs_encode),
        (f"websocket_decode_{name}", ours_decode, theirs_decode),
    ]


def _polling_rows(name: str, data: list[Any]) -> list[Row]:
    def ours_encode() -> object:
        messages = encode_sio_packet(SioPacket(type=EVENT, data=data))
        return encode_payload([EioPacket(type=MESSAGE, data=m) for m in messages])

    def theirs_encode() -> object:
        encoded = sio_packet.Packet(sio_packet.EVENT, data=data).encode()
        messages = encoded if isinstance(encoded, list) else [encoded]
        packets = [eio_packet.Packet(eio_packet.MESSAGE, data=m) for m in messages]
        return eio_payload.Payload(packets=packets).encode()

    body = ours_encode()
    assert body == theirs_encode()
    feed = SioDecoder().feed

    def ours_decode() -> Any:
        for eio in decode_payload(body, max_payload=1_000_000):  # type: ignore[arg-type]
            packet = feed(eio.data)  # type: ignore[arg-type]
        return packet

    def theirs_decode() -> Any:
        first, *attachments = (p.data for p in eio_payload.Payload(encoded_payload=body).packets)
        packet = sio_packet.Packet(encoded_packet=first)
        for attachment in attachments:
            packet.add_attachment(attachment)
        return packet

    assert ours_decode().data == theirs_decode().data == data
    return [
        (f"polling_encode_{name}", ours_encode, theirs_encode),
        (f"polling_decode_{name}", ours_decode, theirs_decode),
    ]


def rows() -> list[Row]:
    websocket = [row for name, data in PAYLOADS.items() for row in _websocket_rows(name, data)]
    polling = [row for name, data in PAYLOADS.items() for row in _polling_rows(name, data)]
    return websocket + polling


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    repeat, min_time = (3, 0.02) if quick else (9, 0.1)
    fast = _engineio.b64encode is _engineio.b64encode_fast
    print(f"base64={'pybase64' if fast else 'stdlib'}")
    for name, ours, theirs in rows():
        ours_ops, theirs_ops = _best_ops_pair(ours, theirs, repeat=repeat, min_time=min_time)
        print(
            f"row={name} sansio_rooms_ops={ours_ops:.0f} theirs_ops={theirs_ops:.0f} "
            f"speedup={ours_ops / theirs_ops:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
