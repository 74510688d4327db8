#!/usr/bin/env node
// Load generator for the cluster fan-out workload (benchmarks/cluster.py): the same program
// for every server kind. Like loadgen.js, raw `ws` clients speak Engine.IO v4 / Socket.IO v5
// by hand over the websocket transport, so a delivery costs the client one prefix check, one
// integer and one clock reading.
//
//   1. connect: N clients, client i to server i % 2 (--ports A,B: client 0, the sender, is on
//      A), at most --concurrency handshakes at a time; each answers "0{...}" with "40", waits
//      for "40{...}", sends 421["join"] and waits for the ack 431[...].
//   2. sync: writes {"event":"joined"} on stdout and waits for one line on stdin (the driver
//      checks that both servers are subscribed to Redis, then says go). Without --sync, goes on.
//   3. fan-out: client 0 sends 42["say",0] .. 42["say",S-1] back to back, each stamped with
//      the time it was sent; the server sends 42["msg",i] to everyone in the room but the
//      sender, on both servers (B gets it through Redis). Timed from just before the first
//      "say" to the last expected delivery; every other client must get each of 0..S-1
//      exactly once, and client 0 none. Order is counted, not required: "reordered" is the
//      number of deliveries that reached a client after a later "say" had (python-socketio
//      runs each event in a task of its own and publishes on a pool of Redis connections,
//      so its order across servers is not guaranteed). Latency of a delivery: its receipt
//      time minus its say's send time (one clock, this process).
//   4. CPU: utime+stime (clock ticks, /proc/<pid>/stat) of each --pids process just before
//      the first "say" and just after the last delivery, and this process' own CPU seconds
//      over the same span (loadgen_cpu_s: near the elapsed time, the load generator is
//      the limit).
// Pings ("2") are answered with "3" at all times. Every phase has a deadline (--timeout).
//
// Output: the last line on stdout is one JSON object, e.g.
//   {"clients":1000,"says":100,"deliveries":99900,"expected":99900,"deliveries_per_s":...,
//    "deliveries_by_server":[49900,50000],"reordered":0,"reordered_by_server":[0,0],"p50_ms":...,"p99_ms":...,"max_ms":...,
//    "cpu_ticks":[...],"errors":[],"error_count":0,...}
// Exit status: 0 if no error, 1 otherwise.
//
// Usage: node cluster_loadgen.js --ports A,B [--host 127.0.0.1] [--clients 1000] [--says 100]
//          [--pids P1,P2,...] [--sync 1] [--timeout 60] [--concurrency 50]
"use strict";

const fs = require("fs");
const readline = require("readline");
const { performance } = require("perf_hooks");
const WebSocket = require("ws");

const MSG_PREFIX = Buffer.from('42["msg",');
const ACK_PREFIX = Buffer.from("431[");
const MAX_ERRORS_KEPT = 20;

function parseArgs(argv) {
  const opts = {
    host: "127.0.0.1",
    ports: [],
    clients: 1000,
    says: 100,
    pids: [],
    sync: 0,
    timeout: 60,
    concurrency: 50,
  };
  const names = {
    "--host": "host",
    "--ports": "ports",
    "--clients": "clients",
    "--says": "says",
    "--pids": "pids",
    "--sync": "sync",
    "--timeout": "timeout",
    "--concurrency": "concurrency",
  };
  for (let i = 2; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (key === undefined || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    const value = argv[i + 1];
    if (key === "host") opts.host = value;
    else if (key === "ports" || key === "pids") opts[key] = value.split(",").filter(Boolean).map(Number);
    else opts[key] = Number(value);
  }
  if (opts.ports.length !== 2) throw new Error("--ports A,B is required");
  if (opts.clients < 3) throw new Error("--clients must be >= 3");
  if (opts.says < 1) throw new Error("--says must be >= 1");
  return opts;
}

// utime + stime of a process, in clock ticks (null if it cannot be read).
function cpuTicks(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of proc(5)
  } catch {
    return null;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function startsWith(buf, prefix) {
  if (buf.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

function percentile(sorted, q) {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

class Run {
  constructor(opts) {
    this.opts = opts;
    this.urls = opts.ports.map(
      (port) => `ws://${opts.host}:${port}/socket.io/?EIO=4&transport=websocket`,
    );
    this.errors = [];
    this.errorCount = 0;
    this.clients = [];
    this.joined = 0;
    this.delivered = 0;
    this.deliveredBy = [0, 0];
    this.firstAt = [0, 0]; // first and last delivery on each server's clients
    this.lastAt = [0, 0];
    this.reordered = [0, 0]; // deliveries that came after a later one, same client
    this.expected = (opts.clients - 1) * opts.says;
    this.sentAt = new Float64Array(opts.says);
    this.latencies = new Float64Array(this.expected);
    this.phase = "start";
    this.onProgress = null; // called when joined/delivered changes
    this.tEnd = 0;
  }

  error(message) {
    this.errorCount++;
    if (this.errors.length < MAX_ERRORS_KEPT) this.errors.push(message);
  }

  progress() {
    if (this.onProgress !== null) this.onProgress();
  }

  // One client: resolves when it joined the room (or failed: then it is reported).
  connect(index) {
    return new Promise((resolve) => {
      const side = index % 2;
      const client = {
        index,
        side,
        ws: null,
        state: "opening",
        got: 0,
        highest: -1,
        seen: new Uint8Array(this.opts.says),
      };
      this.clients[index] = client;
      const says = this.opts.says;
      const fail = (why) => {
        if (client.state !== "failed" && client.state !== "closing") {
          this.error(`client ${index}: ${why} (state ${client.state})`);
          client.state = "failed";
        }
        resolve();
      };
      const ws = new WebSocket(this.urls[side], { perMessageDeflate: false });
      client.ws = ws;
      ws.on("message", (data) => {
        // Hot path first: a delivery.
        if (data[0] === 0x34 && data[1] === 0x32) {
          const now = performance.now();
          if (!startsWith(data, MSG_PREFIX)) {
            this.error(`client ${index}: unexpected event ${data.toString().slice(0, 60)}`);
            return;
          }
          let value = 0;
          let i = MSG_PREFIX.length;
          for (let c = data[i]; c >= 0x30 && c <= 0x39; c = data[++i]) value = value * 10 + c - 0x30;
          if (index === 0) {
            this.error("client 0 (the sender) got its own message");
          } else if (value >= says || client.seen[value] !== 0) {
            this.error(`client ${index}: got msg ${value} again (or out of range)`);
          } else {
            client.seen[value] = 1;
            if (value < client.highest) this.reordered[side]++;
            else client.highest = value;
            client.got++;
            this.latencies[this.delivered] = now - this.sentAt[value];
            this.delivered++;
            if (this.deliveredBy[side]++ === 0) this.firstAt[side] = now;
            this.lastAt[side] = now;
            if (client.got === says && this.delivered === this.expected) {
              this.tEnd = now;
              this.progress();
            }
          }
          return;
        }
        if (data.length === 1 && data[0] === 0x32) {
          ws.send("3"); // ping -> pong
          return;
        }
        const text = data.toString();
        if (client.state === "opening" && text.startsWith("0{")) {
          client.state = "connecting";
          ws.send("40");
        } else if (client.state === "connecting" && text.startsWith("40")) {
          client.state = "joining";
          ws.send('421["join"]');
        } else if (client.state === "joining" && startsWith(data, ACK_PREFIX)) {
          client.state = "joined";
          this.joined++;
          resolve();
          this.progress();
        } else if (text.startsWith("44")) {
          fail(`connect error ${text.slice(0, 80)}`);
        } else if (text.startsWith("41") || text === "1") {
          fail(`disconnected by the server: ${text}`);
        } else {
          this.error(`client ${index}: unexpected frame ${text.slice(0, 60)} (state ${client.state})`);
        }
      });
      ws.on("error", (err) => fail(`websocket error: ${err.message}`));
      ws.on("close", (code) => fail(`websocket closed (${code})`));
    });
  }

  // Resolves when check() is true, or rejects after seconds.
  waitFor(check, seconds, what) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.onProgress = null;
        reject(new Error(`timeout after ${seconds}s ${what}`));
      }, seconds * 1000);
      const poll = () => {
        if (check()) {
          clearTimeout(timer);
          this.onProgress = null;
          resolve();
        }
      };
      this.onProgress = poll;
      poll();
    });
  }

  async connectAll() {
    const { clients, concurrency } = this.opts;
    let next = 0;
    const worker = async () => {
      while (next < clients) await this.connect(next++);
    };
    const workers = [];
    for (let k = 0; k < Math.min(concurrency, clients); k++) workers.push(worker());
    await Promise.all(workers);
  }

  closeAll() {
    for (const client of this.clients) {
      if (client === undefined || client.ws === null) continue;
      client.state = "closing";
      client.ws.terminate();
    }
  }
}

// One line from stdin (the driver's go), or a timeout.
function readLine(seconds) {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: process.stdin });
    const timer = setTimeout(() => {
      rl.close();
      reject(new Error(`no go from the driver within ${seconds}s`));
    }, seconds * 1000);
    rl.once("line", (line) => {
      clearTimeout(timer);
      resolve(line); // first: closing emits "close" at once
      rl.close();
    });
    rl.once("close", () => {
      clearTimeout(timer);
      reject(new Error("stdin closed before the go"));
    });
  });
}

async function main() {
  const opts = parseArgs(process.argv);
  const run = new Run(opts);
  const result = {
    clients: opts.clients,
    says: opts.says,
    deliveries: 0,
    expected: run.expected,
    deliveries_by_server: run.deliveredBy,
    deliveries_per_s: null,
    elapsed_s: null,
    connect_s: null,
    reordered: null,
    p50_ms: null,
    p99_ms: null,
    max_ms: null,
    cpu_ticks: null,
    loadgen_cpu_s: null,
    errors: run.errors,
    error_count: 0,
  };
  try {
    run.phase = "connect";
    const t0 = performance.now();
    let timer = null;
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`timeout after ${opts.timeout}s connecting (${run.joined} joined)`));
      }, opts.timeout * 1000);
    });
    try {
      await Promise.race([run.connectAll(), deadline]);
    } finally {
      clearTimeout(timer);
    }
    result.connect_s = (performance.now() - t0) / 1000;
    if (run.joined !== opts.clients) throw new Error(`only ${run.joined} of ${opts.clients} joined`);

    if (opts.sync) {
      run.phase = "sync";
      process.stdout.write(`${JSON.stringify({ event: "joined" })}\n`);
      await readLine(opts.timeout);
    }

    run.phase = "fanout";
    const sender = run.clients[0].ws;
    const cpuBefore = opts.pids.map(cpuTicks);
    const ownBefore = process.cpuUsage();
    const tStart = performance.now();
    for (let i = 0; i < opts.says; i++) {
      run.sentAt[i] = performance.now();
      sender.send(`42["say",${i}]`);
    }
    try {
      await run.waitFor(() => run.delivered === run.expected, opts.timeout, "fanning out");
    } finally {
      result.deliveries = run.delivered;
    }
    const cpuAfter = opts.pids.map(cpuTicks);
    const own = process.cpuUsage(ownBefore);
    result.loadgen_cpu_s = (own.user + own.system) / 1e6;
    result.cpu_ticks = cpuAfter.map((after, k) =>
      after === null || cpuBefore[k] === null ? null : after - cpuBefore[k],
    );
    result.elapsed_s = (run.tEnd - tStart) / 1000;
    result.deliveries_per_s = run.delivered / result.elapsed_s;
    const sorted = run.latencies.subarray(0, run.delivered).sort();
    result.p50_ms = percentile(sorted, 0.5);
    result.p99_ms = percentile(sorted, 0.99);
    result.max_ms = sorted.length ? sorted[sorted.length - 1] : null;
    result.reordered = run.reordered[0] + run.reordered[1];
    result.reordered_by_server = run.reordered;
    result.first_ms_by_server = run.firstAt.map((t) => t - tStart);
    result.last_ms_by_server = run.lastAt.map((t) => t - tStart);
    // Late extras (duplicates, the sender's own message) would show up now.
    await sleep(100);
  } catch (err) {
    run.error(`${run.phase}: ${err.message}`);
  }
  if (run.phase === "fanout" && run.delivered !== run.expected) {
    let short = 0;
    for (const client of run.clients) {
      if (client !== undefined && client.index !== 0 && client.got !== opts.says) {
        if (short++ < 5) {
          run.error(`client ${client.index} (server ${"AB"[client.side]}) got ${client.got} of ${opts.says}`);
        }
      }
    }
    if (short > 0) run.error(`${short} clients missed messages`);
  }
  run.closeAll();
  result.error_count = run.errorCount;
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(run.errorCount ? 1 : 0));
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ errors: [String(err && err.stack)], error_count: 1 })}\n`);
  process.exit(1);
});
