"""Plain-function handlers run as soon as their event is read, without a task (``emit``
sends at once, as in Node); ``async def`` handlers get a task each, and a socket's handlers
still start in the order its events came."""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import pytest

from sansio_rooms import Socket

from ._memory import MemoryClient, settle


async def test_a_plain_function_handler_emits_and_answers_at_once(binding: ModuleType) -> None:
    server = binding.AsyncServer()
    ran_in: list[str] = []

    @server.on("say")
    def say(socket: Socket, room: str, text: str) -> str:
        ran_in.append("inline")
        socket.to(room).emit("said", text)  # no await: sent now
        return "ok"

    @server.on("join")
    def join(socket: Socket, room: str) -> None:
        socket.join(room)

    async with server.running():
        alice, bob = MemoryClient(server), MemoryClient(server)
        await alice.connect()
        await bob.connect()
        bob.emit("join", "r")
        await settle()
        # Fed, then looked at without letting any task run: done already.
        alice.emit("say", "r", "hi", ack_id=1)
        assert ran_in == ["inline"]
        assert await alice.wait_for("43") == '431["ok"]'
        assert await bob.wait_for('42["said"') == '42["said","hi"]'


async def test_a_plain_function_that_fails_is_logged_and_hurts_nobody(
    binding: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    server = binding.AsyncServer()

    @server.on("boom")
    def boom(socket: Socket) -> None:
        raise RuntimeError("boom")

    @server.on("echo")
    def echo(socket: Socket, value: Any) -> Any:
        return value

    async with server.running():
        client = MemoryClient(server)
        await client.connect()
        with caplog.at_level(logging.ERROR, logger="sansio_rooms"):
            client.emit("boom", ack_id=1)
            client.emit("echo", 2, ack_id=2)
            assert await client.wait_for("43") == "432[2]"  # no answer to the failed one
        assert "handler of event 'boom' in / failed" in caplog.text


async def test_a_plain_function_returning_a_coroutine_is_awaited(binding: ModuleType) -> None:
    server = binding.AsyncServer()

    async def later(value: Any) -> Any:
        await binding_sleep(binding)
        return value * 2

    server.on("double", lambda socket, value: later(value))

    async with server.running():
        client = MemoryClient(server)
        await client.connect()
        client.emit("double", 21, ack_id=1)
        assert await client.wait_for("43") == "431[42]"


async def test_plain_handlers_wait_their_turn_behind_a_running_async_one(
    binding: ModuleType,
) -> None:
    """While an ``async def`` handler of the socket has not finished, a later plain one runs
    after it starts, in a task too: the order of the events is the order of the starts."""
    server = binding.AsyncServer()
    order: list[str] = []

    @server.on("slow")
    async def slow(socket: Socket) -> None:
        order.append("slow starts")
        await binding_sleep(binding)
        order.append("slow ends")

    @server.on("quick")
    def quick(socket: Socket) -> str:
        order.append("quick")
        return "done"

    async with server.running():
        client = MemoryClient(server)
        await client.connect()
        client.emit("slow", ack_id=1)
        client.emit("quick", ack_id=2)
        assert order == []  # neither ran inline: the socket had a handler in a task
        assert await client.wait_for("432") == '432["done"]'
        # quick started after slow (on asyncio as soon as slow waits; on trio, which runs a
        # socket's handlers one after the other, once slow has ended).
        assert order[0] == "slow starts" and "quick" in order
        await client.wait_for("431")
        await settle()
        assert sorted(order) == ["quick", "slow ends", "slow starts"]
        client.emit("quick", ack_id=3)  # nothing of the socket in a task any more: inline
        assert order[-1] == "quick"


async def binding_sleep(binding: ModuleType) -> None:
    """A real suspension on the binding's loop."""
    if binding.__name__.endswith("trio"):
        import trio

        await trio.sleep(0.01)
    else:
        import asyncio

        await asyncio.sleep(0.01)
