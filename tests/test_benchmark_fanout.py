"""benchmarks/fanout.py at a tiny size, and its load generator's checks against wrong servers.

Nothing here measures speed: the figures of a run this small mean nothing. What is checked is
that every workload runs on every server and prints lines of the documented shape with no
error, and that the load generator does report a server that delivers wrongly (otherwise
"errors=0" would prove nothing). Needs node and ``npm ci`` in benchmarks/node (``make test``
and ``make bench`` do it).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
NODE_MODULES = BENCH / "node" / "node_modules"
NODE = shutil.which("node")


@pytest.fixture(autouse=True)
def _node_installed() -> None:
    """`make test` installs benchmarks/node (as `make bench` does): a missing one fails."""
    if NODE is None or not (NODE_MODULES / "socket.io").is_dir():
        pytest.fail("needs node and `npm ci` in benchmarks/node (`make test` does it)")


WORKLOADS = ["burst", "paced1", "paced10", "pairs", "polling", "asgi_burst"]
SERVERS = ["sansio_rooms_asyncio", "sansio_rooms_trio", "node_socketio"]
NOT_RUN: set[tuple[str, ...]] = set()  # printed as skipped, with the reason

NUMBER = r"-?\d+(?:\.\d+)?"
RESULT = re.compile(
    r"workload=(?P<workload>\S+) server=(?P<server>\S+) deliveries_per_s=\d+ "
    r"cpu_us_per_delivery=\d+\.\d\d spread=\d+-\d+ errors=(?P<errors>\d+)( \S+=\S+)*"
)
RATIO = re.compile(rf"ratio workload=(?P<workload>\S+)( sansio_rooms_\w+/\w+=(?:{NUMBER}|n/a))+")
MEMORY = re.compile(rf"memory server=(?P<server>\S+) rss_per_idle_connection_kb={NUMBER}")


def test_every_workload_on_every_server_prints_its_line_without_errors() -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(BENCH / "fanout.py"),
            *("--clients", "6", "--says", "4", "--rounds", "1", "--idle-clients", "0"),
            *("--timeout", "20", "--servers", ",".join(SERVERS)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    results, ratios, memory, skipped = {}, set(), set(), set()
    for line in run.stdout.splitlines():
        if line.startswith("# skipped workload="):
            skipped.add(tuple(part.split("=")[1] for part in line.split()[2:4]))
        elif line.startswith("#"):
            continue
        elif match := RESULT.fullmatch(line):
            results[match["workload"], match["server"]] = int(match["errors"])
        elif match := RATIO.fullmatch(line):
            ratios.add(match["workload"])
        elif match := MEMORY.fullmatch(line):
            memory.add(match["server"])
        else:
            pytest.fail(f"a line of no documented shape: {line!r}")
    expected = {(w, s) for w in WORKLOADS for s in SERVERS} - NOT_RUN
    assert results == dict.fromkeys(expected, 0)
    assert skipped == NOT_RUN
    assert ratios == set(WORKLOADS)
    assert memory == set(SERVERS)


# A server that gets the fan-out wrong on purpose, in the way its argument names; the n-th say
# of a socket is the say it received n-th (the load generator sends them in order).
WRONG_SERVER = """
import sys
import uvicorn
from sansio_rooms_asyncio import ASGIApp, AsyncServer

fault, port = sys.argv[1], int(sys.argv[2])
server = AsyncServer()


@server.on("join")
async def join(socket, *args):
    socket.join(["bench", "everyone"])
    socket.data.update(room="bench", says=0)
    return "ok"


@server.on("joinroom")
async def joinroom(socket, room, *args):
    socket.join([room, "everyone"])
    socket.data.update(room=room, says=0)
    return "ok"


@server.on("say")
async def say(socket, message):
    nth = socket.data["says"] = socket.data["says"] + 1
    room = "everyone" if fault == "leak" else socket.data["room"]
    to = server.to(room) if fault == "echo" else socket.to(room)
    if nth == 2 and fault == "wrong":
        message += 1
    elif nth == 2 and fault == "text":
        message = str(message)
    elif nth == 2 and fault == "twice":
        await to.emit("msg", message)
    elif (nth == 2 and fault == "drop") or (nth == 4 and fault == "last"):
        return
    elif nth == 2 and fault == "reorder":
        socket.data["held"] = message
        return
    await to.emit("msg", message)
    if nth == 3 and fault == "reorder":
        await to.emit("msg", socket.data["held"])


uvicorn.run(ASGIApp(server), host="127.0.0.1", port=port, log_level="error")
"""

# fault: (load generator options, a part of the error it must report)
FAULTS = {
    "echo": ((), "client 0: got msg 0 of client 0; none are for it"),
    "wrong": ((), "got msg 2, expected 1 (a gap)"),
    "text": ((), 'unexpected event 42["msg","1"]'),
    "twice": ((), "got msg 1 again or late (expected 2)"),
    "drop": (("--transport", "polling"), "got msg 2, expected 1 (a gap)"),
    "last": ((), "timeout after 1s fanning out"),
    "reorder": (("--window", "2"), "got msg 1 again or late (expected 3)"),
    "leak": (("--rooms", "pairs"), "; only client"),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def wrong_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """One wrong server per fault, started together: the fault's port."""
    script = tmp_path_factory.mktemp("wrong") / "wrong_server.py"
    script.write_text(WRONG_SERVER)
    ports = {fault: _free_port() for fault in FAULTS}
    servers = [
        subprocess.Popen(
            [sys.executable, str(script), fault, str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fault, port in ports.items()
    ]
    try:
        deadline = time.monotonic() + 30
        for port in ports.values():
            while not _listening(port):
                assert time.monotonic() < deadline, "a wrong server did not listen"
                time.sleep(0.05)
        yield ports
    finally:
        for server in servers:
            server.send_signal(signal.SIGINT)
        for server in servers:
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.mark.parametrize("fault", FAULTS)
def test_the_load_generator_reports_a_wrong_server(
    fault: str, wrong_servers: dict[str, int]
) -> None:
    options, message = FAULTS[fault]
    run = subprocess.run(
        [
            NODE or "node",
            str(BENCH / "node" / "loadgen.js"),
            *("--port", str(wrong_servers[fault]), "--clients", "4", "--says", "4"),
            *("--timeout", "1", "--settle-ms", "0", *options),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    report = json.loads(run.stdout.splitlines()[-1])
    assert run.returncode == 1
    assert report["error_count"] > 0
    assert any(message in error for error in report["errors"]), report["errors"]


def test_the_plot_draws_every_printed_row() -> None:
    """benchmarks/plot_fanout.py: one bar per ``workload= server=`` line, labelled with its
    figures, longer for a higher rate; no such line, no picture."""
    sys.path.insert(0, str(BENCH))
    try:
        import plot_fanout
    finally:
        sys.path.remove(str(BENCH))
    text = (
        "# clients=1000 says=100\n"
        "workload=burst server=sansio_rooms_asyncio deliveries_per_s=800000 "
        "cpu_us_per_delivery=0.70 spread=1-2 errors=0\n"
        "workload=burst server=node_socketio deliveries_per_s=120000 cpu_us_per_delivery=6.11\n"
        "ratio workload=burst sansio_rooms_asyncio/node_socketio=6.67\n"
        "workload=pairs server=python_socketio deliveries_per_s=9000 cpu_us_per_delivery=n/a\n"
    )
    rows = plot_fanout.read(text)
    assert rows == {
        "burst": {"sansio_rooms_asyncio": (800000, "0.70"), "node_socketio": (120000, "6.11")},
        "pairs": {"python_socketio": (9000, "n/a")},
    }
    svg = plot_fanout.draw(rows)
    widths = [
        float(w) for w in re.findall(r'<rect x="110" y="\d+" width="([\d.]+)" height="14"', svg)
    ]
    assert len(widths) == 3 and widths[0] > widths[1] > widths[2] > 0
    assert "800,000/s, 0.70 µs" in svg and "9,000/s, n/a µs" in svg
    with pytest.raises(ValueError, match="no 'workload="):
        plot_fanout.draw(plot_fanout.read("# nothing\n"))
