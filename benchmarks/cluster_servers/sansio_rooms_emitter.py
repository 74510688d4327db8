"""Emitter benchmark: sansio-rooms' Emitter / AsyncEmitter, K times
``emitter.to("bench").emit("msg", i)`` on redis-py, as fast as each form goes.

Kinds (``--kind``):

* ``sync``: :class:`sansio_rooms.Emitter` on a blocking ``redis.Redis``: each emit is one
  PUBLISH and waits for its reply (one round trip per emit, one connection).
* ``sync_pipeline``: the same Emitter on a redis-py pipeline (``transaction=False``),
  executed every ``--batch`` emits: one round trip per batch, as Node's client pipelines.
* ``async``: :class:`sansio_rooms.AsyncEmitter` on ``redis.asyncio.Redis``, each emit awaited
  before the next (sequential: one round trip per emit, one connection).
* ``async_pipeline``: the same AsyncEmitter on a redis.asyncio pipeline, executed every
  ``--batch`` emits (each emit is awaited: it queues the command and returns at once).
* ``async_gather``: the same, ``--concurrency`` emits in flight at a time
  (``asyncio.gather`` over chunks; redis.asyncio has no pipelining of concurrent commands,
  so each one in flight takes a connection of the pool: up to ``--concurrency`` of them).

The clock starts after a PING (connections up) and stops when the last PUBLISH is answered.
Output: one line of JSON, ``{"kind":...,"count":K,"elapsed_s":...,"publishes_per_s":...}``.

Usage: python sansio_rooms_emitter.py --kind KIND --redis URL [--count 20000] [--batch 1000]
                                      [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import redis
import redis.asyncio

from sansio_rooms import AsyncEmitter, Emitter


def run_sync(url: str, count: int) -> float:
    client = redis.Redis.from_url(url)
    client.ping()
    room = Emitter(client).to("bench")
    t0 = time.perf_counter()
    for i in range(count):
        room.emit("msg", i)
    elapsed = time.perf_counter() - t0
    client.close()
    return elapsed


def run_sync_pipeline(url: str, count: int, batch: int) -> float:
    client = redis.Redis.from_url(url)
    client.ping()
    pipe = client.pipeline(transaction=False)
    room = Emitter(pipe).to("bench")
    t0 = time.perf_counter()
    for i in range(count):
        room.emit("msg", i)
        if (i + 1) % batch == 0:
            pipe.execute()
    pipe.execute()
    elapsed = time.perf_counter() - t0
    client.close()
    return elapsed


async def run_async(url: str, count: int) -> float:
    client = redis.asyncio.Redis.from_url(url)
    await client.ping()
    room = AsyncEmitter(client).to("bench")
    t0 = time.perf_counter()
    for i in range(count):
        await room.emit("msg", i)
    elapsed = time.perf_counter() - t0
    await client.aclose()
    return elapsed


async def run_async_pipeline(url: str, count: int, batch: int) -> float:
    client = redis.asyncio.Redis.from_url(url)
    await client.ping()
    pipe = client.pipeline(transaction=False)
    # A redis.asyncio pipeline queues the command and returns itself (awaitable): each emit
    # is awaited as AsyncEmitter requires, and the batch goes out with execute().
    room = AsyncEmitter(pipe).to("bench")
    t0 = time.perf_counter()
    for i in range(count):
        await room.emit("msg", i)
        if (i + 1) % batch == 0:
            await pipe.execute()
    await pipe.execute()
    elapsed = time.perf_counter() - t0
    await client.aclose()
    return elapsed


async def run_async_gather(url: str, count: int, concurrency: int) -> float:
    client = redis.asyncio.Redis.from_url(url)
    # Open the pool's connections before the clock starts.
    await asyncio.gather(*(client.ping() for _ in range(concurrency)))
    room = AsyncEmitter(client).to("bench")
    t0 = time.perf_counter()
    for start in range(0, count, concurrency):
        stop = min(start + concurrency, count)
        await asyncio.gather(*(room.emit("msg", i) for i in range(start, stop)))
    elapsed = time.perf_counter() - t0
    await client.aclose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kind",
        required=True,
        choices=["sync", "sync_pipeline", "async", "async_pipeline", "async_gather"],
    )
    parser.add_argument("--redis", required=True, help="redis://host:port")
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1000, help="*_pipeline: emits per execute")
    parser.add_argument("--concurrency", type=int, default=64, help="async_gather: in flight")
    args = parser.parse_args()
    if args.kind == "sync":
        elapsed = run_sync(args.redis, args.count)
    elif args.kind == "sync_pipeline":
        elapsed = run_sync_pipeline(args.redis, args.count, args.batch)
    elif args.kind == "async":
        elapsed = asyncio.run(run_async(args.redis, args.count))
    elif args.kind == "async_pipeline":
        elapsed = asyncio.run(run_async_pipeline(args.redis, args.count, args.batch))
    else:
        elapsed = asyncio.run(run_async_gather(args.redis, args.count, args.concurrency))
    result = {
        "kind": args.kind,
        "count": args.count,
        "elapsed_s": elapsed,
        "publishes_per_s": args.count / elapsed,
        "errors": [],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
