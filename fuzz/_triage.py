"""From a failure seen during the run to a minimal reproduction.

A crash is seen while many sessions run at once: the sessions around that moment are the
suspects. They are replayed against a fresh server, half of them at a time, until one
session alone reproduces the same failure (same escape signature, or the server dying, or a
socket leaking); then that session's steps are cut down (the shortest prefix that still
fails, then delta debugging) to the few that matter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from _client import Executor, Tally
from _serverproc import Escape, ServerProcess
from _steps import Step, WsExpect

__all__ = ["Check", "Triage"]

#: Time for a failure to show after the last input: a task exception is reported when the task
#: is collected, a leaked socket is one still there once every session has been reaped.
SETTLE = 0.3
REAP = 7.0  # ping_interval + ping_timeout + connect_timeout + close_timeout + 1 (server.py)
#: Each session of a trial runs this many times at once, and a bisection step that finds the
#: failure in neither half tries both halves once more: failures that depend on timing (a
#: close racing a handler) show in one run out of a few.
COPIES = 3


@dataclass
class Check:
    """What counts as "reproduced": an escape with this signature, the server dying (or no
    longer answering), or sockets left behind."""

    signature: str | None = None  # an escape
    death: bool = False  # the server died or hung
    leak: bool = False


class Triage:
    """Replays against a server of its own, restarted whenever it dies."""

    def __init__(self, binding: str, log_dir: Path, deadline: float) -> None:
        self.binding = binding
        self.log_dir = log_dir
        self.deadline = deadline
        self.server: ServerProcess | None = None
        self.trials = 0
        self.last_escapes: list[Escape] = []  # of the last trial
        self.last_leaked: set[tuple[str, str]] = set()
        self.last_alive = True  # the server still answered after the last trial
        self._restarts = 0

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    async def _server(self) -> ServerProcess:
        server = self.server
        if server is None or not server.alive():
            if server is not None:
                await server.kill()
            self._restarts += 1
            server = ServerProcess(
                self.binding, self.log_dir, f"{self.binding}-triage-{self._restarts}"
            )
            await server.start()
            self.server = server
        server.new_escapes()  # what came before is not this trial's
        return server

    async def close(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def _known(self, server: ServerProcess) -> tuple[set[tuple[str, str]], dict[str, Any]]:
        stats = await server.stats(timeout=3.0)
        return {(s["nsp"], s["sid"]) for s in stats["known"]}, stats

    async def reproduces(
        self, sessions: list[list[Step]], check: Check, copies: int = COPIES
    ) -> bool:
        """Run these sessions at once (each its own client, ``copies`` times: a failure that
        depends on timing shows more often) and look for the failure."""
        self.trials += 1
        sessions = [steps for steps in sessions for _ in range(copies)]
        server = await self._server()
        baseline: set[tuple[str, str]] = set()
        base_sessions = 0
        if check.leak:
            baseline, stats = await self._known(server)
            base_sessions = stats["sessions"]
        tally = Tally()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, trust_env=False) as http:
            # An answer that no longer comes (its request was cut away) must not cost 5 s.
            executor = Executor(http, tally, answer_timeout=1.0)
            semaphore = asyncio.Semaphore(16)

            async def one(index: int, steps: list[Step]) -> None:
                async with semaphore:
                    await executor.run(server.host, steps, f"triage-{self.trials}-{index}")

            await asyncio.gather(*(one(i, steps) for i, steps in enumerate(sessions)))
        await asyncio.sleep(SETTLE)
        found = False
        if check.leak:
            self.last_leaked = await self._leaked(server, baseline, base_sessions)
            found = bool(self.last_leaked)
        else:
            with contextlib.suppress(OSError, aiohttp.ClientError, TimeoutError):
                await server.stats(collect=True, timeout=3.0)
            await asyncio.sleep(0.1)
        self.last_escapes = escapes = server.new_escapes()
        if check.signature is not None:
            found = any(e.signature == check.signature for e in escapes)
        if check.death:
            found = found or not await self._answers(server)
        self.last_alive = await self._answers(server)
        if escapes or not self.last_alive:
            # A fresh server for the next trial: this one may be half dead (a trio server
            # whose nursery failed still answers HTTP, but runs no handler any more).
            await server.kill()
        return found

    async def _answers(self, server: ServerProcess) -> bool:
        if not server.alive():
            return False
        try:
            await server.stats(timeout=3.0)
        except (OSError, aiohttp.ClientError, TimeoutError):
            return False
        return True

    async def _leaked(
        self, server: ServerProcess, baseline: set[tuple[str, str]], base_sessions: int
    ) -> set[tuple[str, str]]:
        """The sockets of this trial the server still knows once it has let go of its
        sessions (at most ``REAP`` seconds)."""
        deadline = time.monotonic() + REAP
        while True:
            try:
                known, stats = await self._known(server)
            except (OSError, aiohttp.ClientError, TimeoutError):
                return set()
            new = known - baseline
            if not new and stats["sessions"] <= base_sessions:
                return set()
            if time.monotonic() > deadline:
                return new
            await asyncio.sleep(0.2)

    # -- from many suspects to one -------------------------------------------------------------

    async def culprit(
        self, suspects: list[tuple[str, list[Step]]], check: Check, first: str | None = None
    ) -> tuple[str, list[Step]] | None:
        """The one session that reproduces the failure alone, or None. ``first``: the tag of
        the session the server named (the connection the exception came through)."""
        if not suspects or self.time_left() <= 0:
            return None
        for tag, steps in suspects:
            if tag == first:
                for _ in range(2):
                    if await self.reproduces([steps], check):
                        return tag, steps
        everyone = [steps for _, steps in suspects]
        if not await self.reproduces(everyone, check, copies=1) and not await self.reproduces(
            everyone, check, copies=1
        ):
            for suspect in suspects[-5:]:
                if self.time_left() > 0 and await self.reproduces([suspect[1]], check):
                    return suspect
            return None
        while len(suspects) > 1 and self.time_left() > 0:
            half = len(suspects) // 2
            halves = (suspects[half:], suspects[:half])  # the later ones first: nearer to it
            for _ in range(2):
                found = None
                for part in halves:
                    if await self.reproduces([steps for _, steps in part], check, copies=1):
                        found = part
                        break
                if found is not None:
                    break
            if found is None:
                return None  # it takes sessions from both halves together
            suspects = found
        if len(suspects) == 1 and await self.reproduces([suspects[0][1]], check):
            return suspects[0]
        return None

    async def rate(self, steps: list[Step], check: Check, runs: int = 5) -> int:
        """In how many of ``runs`` trials (each with its copies) ``steps`` fail."""
        count = 0
        for _ in range(runs):
            if self.time_left() > -60:  # a little past the budget: worth knowing
                count += await self.reproduces([steps], check)
        return count

    # -- from one session to its few steps ---------------------------------------------------------

    async def minimize(self, steps: list[Step], check: Check, max_trials: int = 80) -> list[Step]:
        """A shorter list of steps that still reproduces (the first that fits the budget)."""
        start = self.trials

        def budget() -> bool:
            return self.trials - start < max_trials and self.time_left() > 0

        async def fails(candidate: list[Step]) -> bool:
            if not candidate:
                return False
            # Kept only if it fails twice in a row: a cut that leaves a failure showing
            # once in a while would make a reproduction nobody can rely on.
            return await self.reproduces([candidate], check) and await self.reproduces(
                [candidate], check
            )

        # The shortest failing prefix (the bad input is usually the last one sent).
        low, high = 1, len(steps)
        while low < high and budget():
            middle = (low + high) // 2
            if await fails(steps[:middle]):
                high = middle
            else:
                low = middle + 1
        current = steps[:high]
        # Delta debugging: remove chunks, then single steps.
        chunks = 2
        while len(current) > 1 and budget():
            size = max(1, len(current) // chunks)
            removed = False
            for begin in range(0, len(current), size):
                if not budget():
                    break
                candidate = current[:begin] + current[begin + size :]
                if await fails(candidate):
                    current = candidate
                    chunks = max(chunks - 1, 2)
                    removed = True
                    break
            if not removed:
                if size == 1:
                    break
                chunks = min(len(current), chunks * 2)
        # Waits that are left only matter for timing; try without each.
        for step in [s for s in current if isinstance(s, WsExpect)]:
            if not budget():
                break
            candidate = [s for s in current if s is not step]
            if await fails(candidate):
                current = candidate
        return current
