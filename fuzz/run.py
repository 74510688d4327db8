"""``make fuzz``: a million generated inputs at each binding, over real sockets.

For each binding: start ``fuzz/server.py`` in a process of its own, connect two control
clients (WebSocket and long-polling) that emit an acknowledged ``echo`` every 100 ms, and run
concurrent fuzz workers, each performing generated sessions (``_inputs.py``) until the number
of inputs is reached. Then close everything, let the server reap what was abandoned, and read
its figures. Per binding, one line::

    binding=asyncio inputs=1000123 seconds=312 crashes=0 leaked_sockets=0 leaked_sessions=0
    control_misses=0 rss_before_kb=... rss_after_kb=...

and for each failure found, the session that caused it (its seed: ``--replay-seed``), the kind
of input, and a minimal reproduction (the exact frames and requests). Exits 1 if a figure that
must be 0 is not. Options: ``--help``. See fuzz/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import random
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any

import aiohttp

from _client import ControlClient, Executor, Tally
from _inputs import generate
from _serverproc import Escape, ServerProcess
from _steps import Step, render, to_json
from _triage import COPIES, REAP, Check, Triage

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PROGRESS_EVERY = 15.0
HANG_AFTER = 10.0  # no control answer for this long: the server hangs
MAX_RESTARTS = 10


def session_seed(master: int, worker: int, index: int) -> int:
    return random.Random(f"{master}:{worker}:{index}").getrandbits(48)


@dataclass
class SessionLog:
    """Every session of the run, by tag, with when it ran (for the suspects of a crash)."""

    seeds: dict[str, int] = field(default_factory=dict)
    stops: list[float] = field(default_factory=list)  # sorted: appended as sessions end
    spans: list[tuple[float, float, str]] = field(default_factory=list)
    active: dict[str, float] = field(default_factory=dict)
    missing_answers: Counter[str] = field(default_factory=Counter)
    missing_examples: dict[str, int] = field(default_factory=dict)

    def begin(self, tag: str, seed: int) -> None:
        self.seeds[tag] = seed
        self.active[tag] = time.time()

    def end(self, tag: str) -> None:
        start = self.active.pop(tag)
        stop = time.time()
        self.stops.append(stop)
        self.spans.append((start, stop, tag))

    def around(self, when: float, before: float = 1.0, limit: int = 400) -> list[str]:
        """Sessions running at some time in ``[when - before, when]``, the ones that started
        last at the end."""
        first = bisect.bisect_left(self.stops, when - before)
        found = [(start, tag) for start, _, tag in self.spans[first:] if start <= when + 0.05]
        found += [(start, tag) for tag, start in self.active.items() if start <= when + 0.05]
        found.sort()
        return [tag for _, tag in found[-limit:]]


@dataclass
class Incident:
    """A crash seen during the run: what, when, and where to look."""

    kind: str  # "escape", "death", "hang"
    signature: str
    escape: Escape | None
    when: float
    inputs_so_far: int
    suspects: list[str]
    count: int = 1


@dataclass
class Finding:
    title: str
    check: Check
    suspects: list[str]
    detail: str = ""
    count: int = 1
    culprit: str | None = None
    seed: int | None = None
    labels: list[str] = field(default_factory=list)
    minimal: list[Step] | None = None
    saved: Path | None = None
    tag: str | None = None  # the session the server named
    rate: int = 0  # of 5 trials of the minimal reproduction, how many failed


@dataclass
class Result:
    binding: str
    inputs: int = 0
    seconds: float = 0.0
    crashes: int = 0
    leaked_sockets: int = 0
    leaked_sessions: int = 0
    control_misses: int = 0
    rss_before_kb: int = 0
    rss_after_kb: int = 0
    restarts: int = 0
    asgi_server_errors: int = 0  # escapes in uvicorn's / hypercorn's own code
    tally: Tally = field(default_factory=Tally)
    stats: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    log: SessionLog = field(default_factory=SessionLog)

    def line(self) -> str:
        return (
            f"binding={self.binding} inputs={self.inputs} seconds={self.seconds:.0f} "
            f"crashes={self.crashes} leaked_sockets={self.leaked_sockets} "
            f"leaked_sessions={self.leaked_sessions} control_misses={self.control_misses} "
            f"rss_before_kb={self.rss_before_kb} rss_after_kb={self.rss_after_kb}"
        )

    @property
    def failed(self) -> bool:
        return bool(
            self.crashes or self.leaked_sockets or self.leaked_sessions or self.control_misses
        )


def say(binding: str, text: str) -> None:
    print(f"[{binding}] {text}", flush=True)


class Run:
    """The fuzzing of one binding."""

    def __init__(self, binding: str, args: argparse.Namespace) -> None:
        self.binding = binding
        self.args = args
        self.result = Result(binding)
        self.log = self.result.log
        self.incidents: dict[str, Incident] = {}
        self.server: ServerProcess | None = None
        self.stop = asyncio.Event()
        self.instance = 0
        self.main_escape_seen = False
        self.broken = False

    def host(self) -> str:
        assert self.server is not None
        return self.server.host

    async def start_server(self) -> None:
        self.instance += 1
        self.server = ServerProcess(self.binding, OUT, f"{self.binding}-server-{self.instance}")
        await self.server.start()
        self.main_escape_seen = False
        self.broken = False

    async def worker(self, number: int, executor: Executor) -> None:
        args = self.args
        index = 0
        while not self.stop.is_set() and executor.tally.inputs < args.inputs:
            index += 1
            seed = session_seed(args.seed, number, index)
            tag = f"{number}-{index}"
            session = generate(seed)
            self.log.begin(tag, seed)
            try:
                outcome = await executor.run(self.host(), session.steps, tag)
            finally:
                self.log.end(tag)
            for prefix in outcome.missing_answers:
                key = f"{session.kind}: no answer starting {prefix[:4]!r}"
                self.log.missing_answers[key] += 1
                self.log.missing_examples.setdefault(key, seed)

    def incident(self, kind: str, signature: str, escape: Escape | None, inputs: int) -> None:
        when = escape.when if escape is not None else time.time()
        known = self.incidents.get(signature)
        if known is not None:
            known.count += 1
            return
        if kind == "after-failure":
            suspects: list[str] = []
            self.incidents[signature] = Incident(kind, signature, escape, when, inputs, suspects)
            return
        late = kind != "escape" or (escape is not None and escape.where == "asyncio")
        suspects = self.log.around(when, before=2.5 if late else 1.0)
        if escape is not None and escape.tag in self.log.seeds:
            suspects = [*[t for t in suspects if t != escape.tag], escape.tag]
        self.incidents[signature] = Incident(kind, signature, escape, when, inputs, suspects)
        what = "ASGI SERVER ERROR" if kind == "asgi-server" else f"CRASH ({kind})"
        say(self.binding, f"{what} {signature} after ~{inputs} inputs")

    def on_escape(self, escape: Escape, inputs: int) -> None:
        if escape.third_party:
            self.result.asgi_server_errors += 1
            self.incident("asgi-server", escape.signature, escape, inputs)
            return
        self.result.crashes += 1
        self.main_escape_seen |= escape.where == "main"
        # Once the server itself has failed (its lifespan: a trio server's nursery), what
        # follows is a consequence: counted, listed, not searched for.
        kind = "after-failure" if self.broken else "escape"
        self.incident(kind, escape.signature, escape, inputs)
        self.broken |= escape.where in ("asgi:lifespan", "main")

    async def watch(self, tally: Tally, controls: list[ControlClient], started: float) -> None:
        """Until the inputs are sent: progress, escapes, a dead or hung server."""
        args = self.args
        last_progress = time.monotonic()
        last_inputs = 0
        last_collect = 0.0
        while True:
            await asyncio.sleep(0.25)
            server = self.server
            assert server is not None
            if time.monotonic() - last_collect >= 1.0:
                # A task exception in a reference cycle is reported when the cycle is
                # collected: collect often, so that it is seen near the inputs that caused it.
                last_collect = time.monotonic()
                with contextlib.suppress(OSError, aiohttp.ClientError, TimeoutError):
                    await server.stats(collect=True, timeout=2.0)
            for escape in server.new_escapes():
                self.on_escape(escape, tally.inputs)
            now = time.monotonic()
            dead = not server.alive()
            hung = all(now - c.last_ok > HANG_AFTER for c in controls)
            if dead or hung:
                await asyncio.sleep(0.3)
                for escape in server.new_escapes():
                    self.on_escape(escape, tally.inputs)
                if dead:
                    code = server.process.returncode if server.process else None
                    if not self.main_escape_seen:
                        self.result.crashes += 1
                    kind = "after-failure" if self.broken else "death"
                    self.incident(kind, f"server died (exit code {code})", None, tally.inputs)
                else:
                    self.result.crashes += 1
                    kind = "after-failure" if self.broken else "hang"
                    self.incident(kind, "server stopped answering", None, tally.inputs)
                await server.kill()
                if self.result.restarts >= MAX_RESTARTS:
                    say(self.binding, "too many restarts: stopping this binding")
                    self.stop.set()
                    return
                self.result.restarts += 1
                await self.start_server()
                for control in controls:
                    control.last_ok = time.monotonic()
            if tally.inputs >= args.inputs or now - started > args.seconds:
                self.stop.set()
                return
            if now - last_progress >= PROGRESS_EVERY:
                rate = (tally.inputs - last_inputs) / (now - last_progress)
                misses = sum(len(c.misses) for c in controls)
                say(
                    self.binding,
                    f"{tally.inputs} inputs ({rate:.0f}/s) sessions={tally.sessions} "
                    f"crashes={self.result.crashes} control_misses={misses}",
                )
                last_progress, last_inputs = now, tally.inputs

    async def fuzz(self) -> Result:
        args = self.args
        result = self.result
        await self.start_server()
        assert self.server is not None
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, trust_env=False) as http:
            tally = result.tally
            executor = Executor(http, tally)
            controls = [
                ControlClient("websocket", self.host, args.control_bound),
                ControlClient("polling", self.host, args.control_bound),
            ]
            controls_stop = asyncio.Event()
            control_tasks = [asyncio.create_task(c.run(controls_stop, http)) for c in controls]
            for _ in range(50):  # both answered once: the server is warm
                if all(c.answered for c in controls):
                    break
                await asyncio.sleep(0.1)
            before = await self.server.stats(collect=True)
            result.rss_before_kb = before["rss_kb"]
            started = time.monotonic()
            say(self.binding, f"fuzzing with {args.workers} workers, seed={args.seed}")
            workers = [asyncio.create_task(self.worker(i, executor)) for i in range(args.workers)]
            await self.watch(tally, controls, started)
            await asyncio.gather(*workers)
            result.seconds = time.monotonic() - started
            result.inputs = tally.inputs
            controls_stop.set()
            await asyncio.gather(*control_tasks)
        result.control_misses = sum(len(c.misses) for c in controls)
        for control in controls:
            result.notes.append(
                f"{control.name}: {control.answered} answers, "
                f"max latency {control.max_latency * 1000:.0f} ms, {len(control.misses)} misses"
            )
            for miss in control.misses[:5]:
                result.notes.append(f"  miss at {time.ctime(miss.when)}: {miss.reason}")
        await self.reap()
        return result

    async def reap(self) -> None:
        """Everything is closed: wait for the server to let go, then read its figures."""
        server = self.server
        assert server is not None
        result = self.result
        say(self.binding, f"all closed; waiting up to {REAP + 5:.0f} s for the server to reap")
        await asyncio.sleep(REAP)
        stats: dict[str, Any] = {}
        for _ in range(25):
            try:
                stats = await server.stats(collect=True)
            except (OSError, aiohttp.ClientError, TimeoutError):
                break
            if not stats["sockets_known"] and not stats["sessions"]:
                break
            await asyncio.sleep(0.2)
        for escape in server.new_escapes():
            self.on_escape(escape, result.inputs)
        if stats:
            result.stats = stats
            unbalanced = stats["connects"] - stats["disconnects"] - stats["live"]
            result.leaked_sockets = stats["sockets_known"] + abs(unbalanced)
            result.leaked_sessions = stats["sessions"]
            result.rss_after_kb = stats["rss_kb"]
        else:
            result.notes.append("the server did not answer /stats at the end")
        code = await server.stop()
        for escape in server.new_escapes():  # during its shutdown
            self.on_escape(escape, result.inputs)
        if code not in (0, -15, None):
            result.crashes += 1
            result.notes.append(f"the server exited with code {code} at shutdown")
        result.notes.append(f"server stderr: {server.log_path}")

    # -- findings --------------------------------------------------------------------------------

    def findings(self) -> list[Finding]:
        """Ours first (crashes, then leaks), then the ASGI servers' own errors."""
        found: list[Finding] = []
        theirs: list[Finding] = []
        for incident in self.incidents.values():
            escape = incident.escape
            detail = ""
            if escape is not None:
                detail = f"where={escape.where}" + (f" tag={escape.tag}" if escape.tag else "")
                lines = escape.traceback.strip().splitlines()
                detail += "\n" + "\n".join(lines[-8:])
            check = Check(signature=incident.signature) if escape else Check(death=True)
            title = f"crash ({incident.kind}): {incident.signature}"
            if incident.kind == "asgi-server":
                title = f"ASGI server error, not counted as a crash: {incident.signature}"
            elif incident.kind == "after-failure":
                title = f"crash after the server's lifespan failed: {incident.signature}"
                check = Check()  # a consequence: not triaged
            title += f" [{incident.count}x, first after ~{incident.inputs_so_far} inputs]"
            finding = Finding(title, check, incident.suspects, detail, incident.count)
            finding.tag = escape.tag if escape is not None else None
            (theirs if incident.kind == "asgi-server" else found).append(finding)
        leaked = self.result.stats.get("known", [])
        groups: dict[str, list[str]] = {}
        for socket in leaked:
            tag = socket.get("tag")
            if tag in self.log.seeds:
                session = generate(self.log.seeds[tag])
                last = (session.labels() or ["?"])[-1]
                groups.setdefault(f"{session.kind} ending {last}", []).append(tag)
            else:
                groups.setdefault(f"no known session (tag {tag})", [])
        if leaked:
            ranked = sorted(groups.items(), key=lambda item: -len(item[1]))
            # The suspects: the most common kinds of session first, one of each in turn.
            suspects = [tag for row in zip_longest(*(t for _, t in ranked)) for tag in row if tag]
            detail = "by the session that opened them (at most 50 listed by the server):\n"
            detail += "\n".join(f"{len(tags)}x {name}" for name, tags in ranked)
            title = f"leaked sockets: {self.result.leaked_sockets}"
            found.append(Finding(title, Check(leak=True), suspects, detail, len(leaked)))
        return found + theirs

    async def triage(self, findings: list[Finding]) -> None:
        end = time.monotonic() + self.args.triage_seconds
        triage = Triage(self.binding, OUT, end)
        try:
            for number, finding in enumerate(findings, 1):
                # Each finding gets its share of what is left.
                left = end - time.monotonic()
                triage.deadline = time.monotonic() + left / (len(findings) - number + 1)
                if not finding.suspects or left <= 0:
                    continue
                check = finding.check
                if not (check.signature or check.death or check.leak):
                    continue
                say(self.binding, f"triage: {finding.title[:100]}")
                suspects = [(tag, generate(self.log.seeds[tag]).steps) for tag in finding.suspects]
                if check.leak:
                    culprit = None
                    for suspect in suspects[:4]:
                        if await triage.reproduces([suspect[1]], check):
                            culprit = suspect
                            break
                else:
                    culprit = await triage.culprit(suspects, check, finding.tag)
                if culprit is None:
                    finding.detail += "\n(not reproduced by replaying the sessions around it)"
                    continue
                finding.culprit = culprit[0]
                finding.seed = self.log.seeds[culprit[0]]
                session = generate(finding.seed)
                finding.labels = session.labels()
                budget = 30 if check.leak else 120
                finding.minimal = await triage.minimize(session.steps, check, budget)
                finding.rate = await triage.rate(finding.minimal, check)
                path = OUT / f"{self.binding}-finding-{number}.json"
                record = {
                    "binding": self.binding,
                    "title": finding.title,
                    "seed": finding.seed,
                    "kind": session.kind,
                    "failed_trials_of_5": finding.rate,
                    "minimal_steps": to_json(finding.minimal),
                }
                path.write_text(json.dumps(record, indent=1))
                finding.saved = path
        finally:
            await triage.close()


def report(result: Result) -> None:
    tally = result.tally
    run_log = result.log
    print(result.line())
    stats = result.stats
    print(
        f"  sessions={tally.sessions} ws_frames={tally.ws_frames} ws_opens={tally.ws_opens} "
        f"http_requests={tally.http_requests} restarts={result.restarts} "
        f"events_handled={stats.get('events')} connects={stats.get('connects')} "
        f"disconnects={stats.get('disconnects')} refused={stats.get('refused')} "
        f"unmatched_disconnects={stats.get('unmatched_disconnects')}"
    )
    for note in result.notes:
        print(f"  {note}")
    if tally.anomalies:
        print(f"  anomalies (not failures): {dict(tally.anomalies)}")
        for name, (tag, detail) in tally.anomaly_examples.items():
            print(f"    {name}: first in session {tag}: {detail}")
    if run_log.missing_answers:
        print("  answers a well-behaved session did not get in time (not failures):")
        for key, count in run_log.missing_answers.most_common(8):
            print(f"    {count}x {key} (e.g. --replay-seed {run_log.missing_examples[key]})")
    if tally.client_errors:
        print(f"  fuzzer errors (bugs of the fuzzer): {dict(tally.client_errors)}")
    if stats.get("log_counts"):
        counts = sorted(stats["log_counts"].items(), key=lambda item: -item[1])[:8]
        print("  server log lines (not failures): " + "; ".join(f"{n}x {k}" for k, n in counts))
    for finding in result.findings:
        print(f"  FINDING {finding.title}")
        for line in finding.detail.strip().splitlines():
            print(f"      {line}")
        if finding.seed is not None:
            kinds = Counter(finding.labels)
            summary = ", ".join(f"{k}x{n}" if n > 1 else k for k, n in kinds.items())
            print(f"    session {finding.culprit}: seed={finding.seed} inputs: {summary[:600]}")
            print(
                f"    replay: {sys.executable} fuzz/run.py --binding {result.binding} "
                f"--replay-seed {finding.seed}"
            )
        if finding.minimal is not None:
            print(
                f"    minimal reproduction ({len(finding.minimal)} steps; failed in "
                f"{finding.rate} of 5 trials of {COPIES} copies at once):"
            )
            for step in finding.minimal:
                print(f"      {render(step)}")
            print(f"    saved: {finding.saved}")


async def replay(args: argparse.Namespace, binding: str) -> int:
    """Run one session (``--replay-seed``) or saved steps (``--replay-file``) alone."""
    from _steps import from_json

    if args.replay_file:
        steps = from_json(json.loads(Path(args.replay_file).read_text())["minimal_steps"])
    else:
        session = generate(args.replay_seed)
        steps = session.steps
        print(f"session kind={session.kind} seed={session.seed}")
    for step in steps:
        print(f"  {render(step)}")
    failed = False
    triage = Triage(binding, OUT, time.monotonic() + 60)
    try:
        # Three copies at once, as in the triage: a failure that depends on timing shows.
        print(f"running it {COPIES} times at once")
        await triage.reproduces([steps], Check(leak=True))
        for escape in triage.last_escapes:
            failed = True
            print(f"ESCAPE {escape.signature}\n{escape.traceback}")
        if not triage.last_alive:
            failed = True
            print("the server died or stopped answering")
        if triage.last_leaked:
            failed = True
            print(f"left behind: {len(triage.last_leaked)} sockets: {triage.last_leaked}")
    finally:
        await triage.close()
    print(f"binding={binding} replay: {'FAILED' if failed else 'no failure'}")
    return 1 if failed else 0


async def main_async(args: argparse.Namespace) -> int:
    bindings = ["asyncio", "trio"] if args.binding == "both" else [args.binding]
    if args.replay_seed is not None or args.replay_file:
        codes = [await replay(args, binding) for binding in bindings]
        return max(codes)
    print(f"seed={args.seed} (replay this run: --seed {args.seed})", flush=True)
    results = []
    for binding in bindings:
        run = Run(binding, args)
        result = await run.fuzz()
        result.findings = run.findings()
        if result.findings and args.triage_seconds > 0:
            await run.triage(result.findings)
        results.append(result)
        print(result.line(), flush=True)
    print()
    for result in results:
        report(result)
    print()
    for result in results:
        print(result.line())
    return 1 if any(r.failed for r in results) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Fuzz both bindings over real sockets.")
    parser.add_argument("--binding", choices=("both", "asyncio", "trio"), default="both")
    parser.add_argument("--inputs", type=int, default=1_000_000, help="per binding")
    parser.add_argument("--seconds", type=float, default=1800, help="cap per binding")
    parser.add_argument("--seed", type=int, default=None, help="replay a run (its sessions)")
    parser.add_argument("--workers", type=int, default=16, help="concurrent fuzz clients")
    parser.add_argument("--control-bound", type=float, default=2.0, help="seconds per answer")
    parser.add_argument("--triage-seconds", type=float, default=300, help="0: no triage")
    parser.add_argument("--replay-seed", type=int, default=None, help="run one session alone")
    parser.add_argument("--replay-file", default=None, help="run saved steps (out/*.json)")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = secrets.randbits(32)
    OUT.mkdir(exist_ok=True)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(main_async(args))
    return 130


if __name__ == "__main__":
    sys.exit(main())
