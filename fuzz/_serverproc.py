"""A server under fuzz, as a child process: start it, ask it for its figures, read what escaped
from its stderr, stop it.

What counts as an escape: each ``FUZZ-ESCAPE`` line ``fuzz/server.py`` writes, and any bare
``Traceback`` block in its stderr (something that got past its hooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["Escape", "ServerProcess", "free_port"]

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_OURS = re.compile(r'File "[^"]*(sansio_rooms|fuzz/server\.py)')
_VARIABLE = re.compile(r"0x[0-9a-f]+|\d+|'[A-Za-z0-9_-]{16,}'|[A-Za-z0-9_-]{22}")


@dataclass
class Escape:
    """An exception that escaped in the server (or the server's death)."""

    when: float  # wall clock
    where: str
    type: str
    error: str
    traceback: str
    tag: str | None = None

    @property
    def third_party(self) -> bool:
        """Whether only the ASGI server's code (uvicorn, hypercorn, websockets, ...) is in
        the traceback: no frame of sansio_rooms, of a binding, or of the fuzz app."""
        return bool(self.traceback) and not _OURS.search(self.traceback)

    @property
    def signature(self) -> str:
        """What makes two escapes the same bug: the type, the message with its numbers and
        ids blanked, and the innermost frame."""
        frame = ""
        frames = re.findall(r'File "([^"]+)", line \d+, in (\S+)', self.traceback)
        if frames:
            path, function = frames[-1]
            frame = f" at {Path(path).name}:{function}"
        if self.third_party and frame:
            return f"{self.type}{frame}"  # one bug of theirs, whatever the bytes it chokes on
        message = _VARIABLE.sub("N", self.error.splitlines()[0] if self.error else "")[:100]
        return f"{self.type}: {message}{frame}"


class ServerProcess:
    """``fuzz/server.py`` for one binding, its stderr in ``log_dir/<name>.log``."""

    def __init__(self, binding: str, log_dir: Path, name: str) -> None:
        self.binding = binding
        self.log_path = log_dir / f"{name}.log"
        self.port = 0
        self.process: asyncio.subprocess.Process | None = None
        self._offset = 0
        self._partial = ""
        self._traceback: list[str] | None = None
        self._log: Any = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - kept open while it runs
        self._offset = 0
        self._partial = ""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "server.py"),
            "--binding",
            self.binding,
            "--port",
            str(self.port),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._log,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"the {self.binding} server died at start: see {self.log_path}")
            with contextlib.suppress(OSError, aiohttp.ClientError, TimeoutError):
                await self.stats()
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the {self.binding} server did not start: see {self.log_path}")

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stats(self, collect: bool = False, timeout: float = 5.0) -> dict[str, Any]:
        path = "gc" if collect else "stats"
        async with (
            aiohttp.ClientSession(trust_env=False) as http,
            http.get(
                f"http://{self.host}/{path}", timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response,
        ):
            result: dict[str, Any] = await response.json()
            return result

    def new_escapes(self) -> list[Escape]:
        """Escapes written to stderr since the last call."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                log.seek(self._offset)
                text = log.read()
                self._offset = log.tell()
        except FileNotFoundError:
            return []
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        escapes = []
        for line in lines:
            escape = self._parse(line)
            if escape is not None:
                escapes.append(escape)
        return escapes

    def _parse(self, line: str) -> Escape | None:
        if line.startswith("FUZZ-ESCAPE "):
            try:
                record = json.loads(line[len("FUZZ-ESCAPE ") :])
            except ValueError:
                return Escape(time.time(), "stderr", "?", line[:300], "")
            return Escape(
                when=record.get("time") or time.time(),
                where=record.get("where") or "?",
                type=record.get("type") or "None",
                error=record.get("error") or record.get("message") or "",
                traceback=record.get("traceback") or "",
                tag=record.get("tag"),
            )
        if line.startswith("Traceback (most recent call last):"):
            self._traceback = [line]
            return None
        if self._traceback is not None:
            self._traceback.append(line)
            if line and not line[0].isspace():  # the exception line ends the block
                block, self._traceback = self._traceback, None
                kind, _, message = line.partition(": ")
                return Escape(time.time(), "stderr", kind, message, "\n".join(block))
        return None

    async def stop(self, timeout: float = 15.0) -> int | None:
        """Stop it gracefully (SIGTERM), or kill it. Its exit code; a clean stop is 0 or
        -SIGTERM (uvicorn re-raises the signal once it has shut down)."""
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self._close_log()
        return process.returncode

    async def kill(self) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
