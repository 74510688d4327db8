"""Emit into a room of a Socket.IO cluster from a plain script (no server, no event loop).

    python examples/cluster_emitter.py redis://127.0.0.1:6379/0 <room> <text>

Every client in ``room`` gets ``announcement`` with ``{"text": ...}``, on whichever server it
is connected to (Python or Node, as long as they share this Redis). The same three lines work
in a WSGI view or a Celery task: the emitter only publishes.
"""

from __future__ import annotations

import sys

import redis

from sansio_rooms import Emitter


def main(url: str, room: str, text: str) -> None:
    with redis.Redis.from_url(url) as client:
        Emitter(client).to(room).emit("announcement", {"text": text})
    print(f"  (emitter) published an announcement to {room!r}: {text!r}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
