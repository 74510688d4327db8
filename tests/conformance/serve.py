"""Serve an official suite's application until Ctrl-C, to run that suite by hand.

    .venv/bin/python tests/conformance/serve.py --suite socketio --binding asyncio --port 3000
    cd /tmp/suites/sio/test-suite && npx mocha test-suite.js    # in another terminal

The applications are those of the pytest translation (``_servers.SUITES``), served the same
way (``_servers.BINDINGS``), on ``127.0.0.1``. SIGINT or SIGTERM stops the server, which
releases the port before exiting.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: `tests` imports

from tests.conformance._servers import BINDINGS, SUITES, serve

PATHS = {"socketio": "/socket.io/", "engineio": "/engine.io/"}


async def serve_until_stopped(binding: str, suite: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # uvicorn (asyncio binding) takes these signals while it serves, stops, then raises
        # them again: they arrive here after it stopped, and end this wait.
        loop.add_signal_handler(signum, stop.set)
    async with serve(binding, suite, port) as served:
        url = served.url + PATHS[suite]
        print(f"the {suite} suite's server ({binding}) at {url}; Ctrl-C stops it", flush=True)
        await stop.wait()
    print("stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=sorted(SUITES), required=True)
    parser.add_argument("--binding", choices=sorted(BINDINGS), required=True)
    parser.add_argument("--port", type=int, default=3000)
    arguments = parser.parse_args(argv)
    asyncio.run(serve_until_stopped(arguments.binding, arguments.suite, arguments.port))


if __name__ == "__main__":
    main()
