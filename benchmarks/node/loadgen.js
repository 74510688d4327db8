#!/usr/bin/env node
// Load generator for the end-to-end fan-out workload (bench README section 2), the same
// program for every server. Raw `ws` clients speak Engine.IO v4 / Socket.IO v5 by hand over
// the websocket transport, so a delivery costs the client one prefix check and one integer.
//
//   1. connect: N clients open ws://HOST/socket.io/?EIO=4&transport=websocket (at most
//      --concurrency handshakes at a time); each answers the open packet "0{...}" with "40"
//      (connect to "/"), waits for "40{...}", sends 421["join"] and waits for the ack 431[...].
//   2. memory: the server's VmRSS (/proc/<pid>/status) before connecting and after every
//      client joined (after --settle-ms), divided by N: rss_per_idle_connection_kb.
//   3. fan-out (if --says > 0): client 0 sends 42["say",0] .. 42["say",S-1] back to back; the
//      server sends 42["msg",i] to everyone in the room but the sender. Timed from just before
//      the first "say" to the last expected delivery; every other client must get 0..S-1 in
//      order, exactly once, and client 0 none.
// Pings ("2") are answered with "3" at all times. Every phase has a deadline (--timeout):
// nothing hangs, and a missing delivery is reported, not waited for forever.
//
// Output: one line of JSON on stdout, e.g.
//   {"clients":1000,"says":100,"deliveries":99900,"expected":99900,"deliveries_per_s":...,
//    "rss_per_idle_connection_kb":...,"errors":[],"error_count":0,...}
// Exit status: 0 if no error, 1 otherwise.
//
// Usage: node loadgen.js --port P [--host 127.0.0.1] [--clients 1000] [--says 100]
//                        [--pid SERVER_PID] [--timeout 60] [--concurrency 50] [--settle-ms 500]
"use strict";

const fs = require("fs");
const WebSocket = require("ws");

const MSG_PREFIX = Buffer.from('42["msg",');
const ACK_PREFIX = Buffer.from("431[");
const MAX_ERRORS_KEPT = 20;

function parseArgs(argv) {
  const opts = {
    host: "127.0.0.1",
    port: 0,
    clients: 1000,
    says: 100,
    pid: 0,
    timeout: 60,
    concurrency: 50,
    settleMs: 500,
  };
  const names = {
    "--host": "host",
    "--port": "port",
    "--clients": "clients",
    "--says": "says",
    "--pid": "pid",
    "--timeout": "timeout",
    "--concurrency": "concurrency",
    "--settle-ms": "settleMs",
  };
  for (let i = 2; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (key === undefined || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    opts[key] = key === "host" ? argv[i + 1] : Number(argv[i + 1]);
  }
  if (!opts.port) throw new Error("--port is required");
  if (opts.clients < 2) throw new Error("--clients must be >= 2");
  return opts;
}

function rssKb(pid) {
  if (!pid) return null;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "latin1");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) : null;
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

class Run {
  constructor(opts) {
    this.opts = opts;
    this.url = `ws://${opts.host}:${opts.port}/socket.io/?EIO=4&transport=websocket`;
    this.errors = [];
    this.errorCount = 0;
    this.clients = [];
    this.joined = 0;
    this.delivered = 0;
    this.expected = (opts.clients - 1) * opts.says;
    this.phase = "start";
    this.onProgress = null; // called when joined/delivered changes
    this.tEnd = 0n;
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
      const client = { index, ws: null, state: "opening", got: 0, done: false };
      this.clients[index] = client;
      const says = this.opts.says;
      const fail = (why) => {
        if (client.state !== "failed" && client.state !== "closing") {
          this.error(`client ${index}: ${why} (state ${client.state})`);
          client.state = "failed";
        }
        resolve();
      };
      const ws = new WebSocket(this.url, { perMessageDeflate: false });
      client.ws = ws;
      ws.on("message", (data) => {
        // Hot path first: a delivery.
        if (data[0] === 0x34 && data[1] === 0x32) {
          if (!startsWith(data, MSG_PREFIX)) {
            this.error(`client ${index}: unexpected event ${data.toString().slice(0, 60)}`);
            return;
          }
          let value = 0;
          let i = MSG_PREFIX.length;
          for (let c = data[i]; c >= 0x30 && c <= 0x39; c = data[++i]) value = value * 10 + c - 0x30;
          if (index === 0) {
            this.error("client 0 (the sender) got its own message");
          } else if (value !== client.got) {
            this.error(`client ${index}: got msg ${value}, expected ${client.got}`);
          } else {
            client.got++;
            this.delivered++;
            if (client.got === says) {
              client.done = true;
              if (this.delivered === this.expected) {
                this.tEnd = process.hrtime.bigint();
                this.progress();
              }
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

async function main() {
  const opts = parseArgs(process.argv);
  const run = new Run(opts);
  const result = {
    clients: opts.clients,
    says: opts.says,
    deliveries: 0,
    expected: run.expected,
    deliveries_per_s: null,
    elapsed_s: null,
    connect_s: null,
    rss_before_kb: null,
    rss_after_kb: null,
    rss_per_idle_connection_kb: null,
    errors: run.errors,
    error_count: 0,
  };
  try {
    result.rss_before_kb = rssKb(opts.pid);
    run.phase = "connect";
    const t0 = process.hrtime.bigint();
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
    result.connect_s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (run.joined !== opts.clients) throw new Error(`only ${run.joined} of ${opts.clients} joined`);

    run.phase = "memory";
    await sleep(opts.settleMs);
    result.rss_after_kb = rssKb(opts.pid);
    if (result.rss_before_kb !== null && result.rss_after_kb !== null) {
      result.rss_per_idle_connection_kb =
        (result.rss_after_kb - result.rss_before_kb) / opts.clients;
    }

    if (opts.says > 0) {
      run.phase = "fanout";
      const sender = run.clients[0].ws;
      const tStart = process.hrtime.bigint();
      for (let i = 0; i < opts.says; i++) sender.send(`42["say",${i}]`);
      try {
        await run.waitFor(() => run.delivered === run.expected, opts.timeout, "fanning out");
      } finally {
        result.deliveries = run.delivered;
      }
      result.elapsed_s = Number(run.tEnd - tStart) / 1e9;
      result.deliveries_per_s = run.delivered / result.elapsed_s;
      // Late extras (duplicates, the sender's own message) would show up now.
      await sleep(100);
    }
  } catch (err) {
    run.error(`${run.phase}: ${err.message}`);
  }
  if (run.phase === "fanout" && run.delivered !== run.expected) {
    let short = 0;
    for (const client of run.clients) {
      if (client !== undefined && client.index !== 0 && client.got !== opts.says) {
        if (short++ < 5) run.error(`client ${client.index} got ${client.got} of ${opts.says}`);
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
