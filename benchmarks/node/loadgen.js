#!/usr/bin/env node
// Load generator for the end-to-end fan-out workloads (bench README section 2, and the
// variants of benchmarks/fanout.py), the same program for every server. Raw clients speak
// Engine.IO v4 / Socket.IO v5 by hand, so a delivery costs the client one prefix check and
// one integer:
//   --transport websocket: `ws` clients on ws://HOST/socket.io/?EIO=4&transport=websocket;
//   --transport polling: HTTP long-polling only, never upgrading (http.Agent with keepAlive):
//      GET handshake "0{...}" (its sid), POST "40", one GET always pending whose body holds
//      packets separated by "\x1e"; packets to send wait while a POST is in flight, then go
//      together in the next POST body (Engine.IO allows one POST at a time), at most 16 in
//      one body: python-engineio refuses a longer payload (Payload.max_decode_packets = 16)
//      and drops it whole, answering "ok" all the same.
//
//   1. connect: N clients (at most --concurrency handshakes at a time); each answers the open
//      packet with "40" (connect to "/"), waits for "40{...}", joins and waits for the ack
//      431[...]: with --rooms bench, 421["join"] (room "bench"); with --rooms pairs,
//      421["joinroom","pair<k>"], client k in room pair<floor(k/2)>.
//   2. memory: the server's VmRSS (/proc/<pid>/status) before connecting and after every
//      client joined (after --settle-ms), divided by N: rss_per_idle_connection_kb.
//   3. fan-out (if --says S > 0): 42["say",v] with v = sender * S + i for the sender's i-th
//      say; the server sends 42["msg",v] to the sender's room, sender excluded. Senders: with
//      --rooms bench client 0 (N - 1 recipients per say), with --rooms pairs every client (its
//      partner is the recipient). --window 0: each sender sends all its says back to back;
//      --window W: its says 0..W-1, then say i+W once every recipient got msg i.
//      Every delivery is checked: the exact packet 42["msg",<integer>], from the recipient's
//      sender (nobody else's, and none at all to the sender of a room), each i in order,
//      exactly once. Timed from just before the first "say" to the last expected delivery;
//      the server's CPU time (utime+stime, /proc/<pid>/stat) and this program's own are read
//      at the same two moments. Deliveries that come after the end (duplicates, echoes) are
//      watched for 100 ms more.
// Pings ("2") are answered with "3" at all times. Every phase has a deadline (--timeout):
// nothing hangs, and a missing delivery is reported, not waited for forever. A gap (msg i+2
// before msg i+1) is an error and the recipient goes on from there, so that a run with a
// lost message still ends as soon as the last one arrives.
//
// Output: one line of JSON on stdout, e.g.
//   {"clients":1000,"says":100,"deliveries":99900,"expected":99900,"deliveries_per_s":...,
//    "cpu_ticks":...,"rss_per_idle_connection_kb":...,"errors":[],"error_count":0,...}
// Exit status: 0 if no error, 1 otherwise.
//
// Usage: node loadgen.js --port P [--host 127.0.0.1] [--clients 1000] [--says 100]
//                        [--transport websocket|polling] [--rooms bench|pairs] [--window 0]
//                        [--pid SERVER_PID] [--timeout 60] [--concurrency 50] [--settle-ms 500]
"use strict";

const fs = require("fs");
const http = require("http");
const WebSocket = require("ws");

const MSG_PREFIX = '42["msg",';
const MSG_PREFIX_BYTES = Buffer.from(MSG_PREFIX);
const CLOSE_BRACKET = 0x5d; // "]"
const RECORD_SEPARATOR = "\x1e";
const MAX_ERRORS_KEPT = 20;
const MAX_PACKETS_PER_POST = 16; // python-engineio's limit (see the top)
const LATE_WATCH_MS = 100;

function parseArgs(argv) {
  const opts = {
    host: "127.0.0.1",
    port: 0,
    clients: 1000,
    says: 100,
    transport: "websocket",
    rooms: "bench",
    window: 0,
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
    "--transport": "transport",
    "--rooms": "rooms",
    "--window": "window",
    "--pid": "pid",
    "--timeout": "timeout",
    "--concurrency": "concurrency",
    "--settle-ms": "settleMs",
  };
  const strings = new Set(["host", "transport", "rooms"]);
  for (let i = 2; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (key === undefined || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    opts[key] = strings.has(key) ? argv[i + 1] : Number(argv[i + 1]);
  }
  if (!opts.port) throw new Error("--port is required");
  if (opts.clients < 2) throw new Error("--clients must be >= 2");
  if (!["websocket", "polling"].includes(opts.transport)) throw new Error("bad --transport");
  if (!["bench", "pairs"].includes(opts.rooms)) throw new Error("bad --rooms");
  if (opts.rooms === "pairs" && opts.clients % 2) throw new Error("--rooms pairs: even --clients");
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

// utime + stime of a process, in clock ticks (null if it cannot be read).
function cpuTicks(pid) {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of proc(5)
  } catch {
    return null;
  }
}

// This program's own CPU time, in seconds.
function ownCpuSeconds() {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The value of a delivery 42["msg",<digits>] (a Buffer), or -1 if it is anything else.
function msgValueOfBytes(data) {
  const n = data.length;
  if (n < MSG_PREFIX_BYTES.length + 2) return -1;
  for (let i = 0; i < MSG_PREFIX_BYTES.length; i++) if (data[i] !== MSG_PREFIX_BYTES[i]) return -1;
  let value = 0;
  let i = MSG_PREFIX_BYTES.length;
  for (let c = data[i]; c >= 0x30 && c <= 0x39; c = data[++i]) value = value * 10 + c - 0x30;
  return i > MSG_PREFIX_BYTES.length && i === n - 1 && data[i] === CLOSE_BRACKET ? value : -1;
}

// The same for a packet of a polling body (a string).
function msgValueOfText(text) {
  const n = text.length;
  if (n < MSG_PREFIX.length + 2 || !text.startsWith(MSG_PREFIX)) return -1;
  let value = 0;
  let i = MSG_PREFIX.length;
  for (let c = text.charCodeAt(i); c >= 0x30 && c <= 0x39; c = text.charCodeAt(++i)) {
    value = value * 10 + c - 0x30;
  }
  return i > MSG_PREFIX.length && i === n - 1 && text.charCodeAt(i) === CLOSE_BRACKET ? value : -1;
}

class Run {
  constructor(opts) {
    this.opts = opts;
    this.errors = [];
    this.errorCount = 0;
    this.clients = [];
    this.joined = 0;
    this.delivered = 0; // deliveries that were right (counted in the rate)
    this.finished = 0; // recipients that got their sender's last say
    this.phase = "start";
    this.onProgress = null; // called when joined/finished changes
    this.tEnd = 0n;
    this.cpuEnd = null;
    this.ownCpuEnd = 0;
    const { clients, says, rooms } = opts;
    this.pairs = rooms === "pairs";
    // Who sends, and how many recipients each of its says has.
    this.senders = this.pairs ? [...Array(clients).keys()] : [0];
    this.recipientsPerSay = this.pairs ? 1 : clients - 1;
    this.recipients = this.pairs ? clients : clients - 1;
    this.expected = this.recipients * says;
    this.senderState = []; // per sender: how many recipients got each of its says
    for (const sender of this.senders) this.senderState[sender] = new Int32Array(says);
    if (opts.transport === "polling") {
      this.agent = new http.Agent({
        keepAlive: true,
        maxSockets: 2 * clients + 16, // one pending GET and one POST per client
        maxFreeSockets: 2 * clients + 16,
      });
    }
  }

  error(message) {
    this.errorCount++;
    if (this.errors.length < MAX_ERRORS_KEPT) this.errors.push(message);
  }

  progress() {
    if (this.onProgress !== null) this.onProgress();
  }

  // The client whose says `index` gets, or -1 (the sender of a room gets none).
  senderFor(index) {
    if (this.pairs) return index ^ 1;
    return index === 0 ? -1 : 0;
  }

  joinPacket(index) {
    return this.pairs ? `421["joinroom","pair${index >> 1}"]` : '421["join"]';
  }

  sendSay(sender, i) {
    this.clients[sender].send(`42["say",${sender * this.opts.says + i}]`);
  }

  // A delivery of value `value` (-1: not a well-formed msg) to `client`.
  deliver(client, value, raw) {
    const says = this.opts.says;
    if (value < 0) {
      this.error(`client ${client.index}: unexpected event ${String(raw).slice(0, 60)}`);
      return;
    }
    const sender = Math.floor(value / says);
    const i = value - sender * says;
    if (sender !== client.from) {
      const whose = client.from < 0 ? "none are for it" : `only client ${client.from}'s are for it`;
      this.error(`client ${client.index}: got msg ${i} of client ${sender}; ${whose}`);
      return;
    }
    if (i < client.next) {
      this.error(`client ${client.index}: got msg ${i} again or late (expected ${client.next})`);
      return;
    }
    const arrived = this.senderState[sender];
    if (i > client.next) {
      this.error(`client ${client.index}: got msg ${i}, expected ${client.next} (a gap)`);
      // Go on from here: the skipped ones count as arrived for the pacing, not as delivered.
      for (let skipped = client.next; skipped < i; skipped++) this.arrived(sender, arrived, skipped);
    }
    client.next = i + 1;
    this.delivered++;
    this.arrived(sender, arrived, i);
    if (client.next === says && ++this.finished === this.recipients) {
      this.tEnd = process.hrtime.bigint();
      this.cpuEnd = cpuTicks(this.opts.pid);
      this.ownCpuEnd = ownCpuSeconds();
      this.progress();
    }
  }

  // Say i of `sender` reached one more recipient: with a window, the next say goes when all did.
  arrived(sender, arrived, i) {
    const window = this.opts.window;
    if (++arrived[i] === this.recipientsPerSay && window > 0 && i + window < this.opts.says) {
      this.sendSay(sender, i + window);
    }
  }

  // A packet other than a delivery, in either transport; `text` is a string.
  control(client, text) {
    if (text === "2") {
      client.send("3"); // ping -> pong
    } else if (client.state === "connecting" && text.startsWith("40")) {
      client.state = "joining";
      client.send(this.joinPacket(client.index));
    } else if (client.state === "joining" && text.startsWith("431[")) {
      client.state = "joined";
      this.joined++;
      client.resolve();
      this.progress();
    } else if (text.startsWith("44")) {
      client.fail(`connect error ${text.slice(0, 80)}`);
    } else if (text.startsWith("41") || text === "1") {
      client.fail(`disconnected by the server: ${text}`);
    } else if (text !== "6") {
      // "6" (noop) may end a poll; anything else is not expected.
      this.error(
        `client ${client.index}: unexpected packet ${text.slice(0, 60)} (state ${client.state})`,
      );
    }
  }

  // One client: resolves when it joined its room (or failed: then it is reported).
  connect(index) {
    return new Promise((resolve) => {
      const Kind = this.opts.transport === "polling" ? PollingClient : WebSocketClient;
      const client = new Kind(this, index, resolve);
      this.clients[index] = client;
      client.open();
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

  startSays() {
    const { says, window } = this.opts;
    const first = window > 0 ? Math.min(window, says) : says;
    for (const sender of this.senders) for (let i = 0; i < first; i++) this.sendSay(sender, i);
  }

  closeAll() {
    for (const client of this.clients) if (client !== undefined) client.close();
    if (this.agent !== undefined) this.agent.destroy();
  }
}

// What both transports share: the client's place in the protocol and in the checks.
class Client {
  constructor(run, index, resolve) {
    this.run = run;
    this.index = index;
    this.resolve = resolve;
    this.state = "opening";
    this.from = run.senderFor(index);
    this.next = 0; // the i of the next say expected from `from`
  }

  fail(why) {
    if (this.state !== "failed" && this.state !== "closing") {
      this.run.error(`client ${this.index}: ${why} (state ${this.state})`);
      this.state = "failed";
    }
    this.resolve();
  }
}

class WebSocketClient extends Client {
  open() {
    const { host, port } = this.run.opts;
    const ws = new WebSocket(`ws://${host}:${port}/socket.io/?EIO=4&transport=websocket`, {
      perMessageDeflate: false,
    });
    this.ws = ws;
    ws.on("message", (data) => {
      if (data[0] === 0x34 && data[1] === 0x32) {
        // Hot path first: an event, which must be a delivery.
        this.run.deliver(this, msgValueOfBytes(data), data);
      } else if (this.state === "opening" && data[0] === 0x30) {
        this.state = "connecting";
        ws.send("40");
      } else {
        this.run.control(this, data.toString());
      }
    });
    ws.on("error", (err) => this.fail(`websocket error: ${err.message}`));
    ws.on("close", (code) => this.fail(`websocket closed (${code})`));
  }

  send(text) {
    this.ws.send(text);
  }

  close() {
    this.state = "closing";
    this.ws.terminate();
  }
}

class PollingClient extends Client {
  open() {
    this.path = "/socket.io/?EIO=4&transport=polling";
    this.outbox = [];
    this.posting = false;
    this.request("GET", null, (body) => {
      if (!body.startsWith("0{")) {
        this.fail(`bad handshake ${body.slice(0, 80)}`);
        return;
      }
      this.path += `&sid=${encodeURIComponent(JSON.parse(body.slice(1)).sid)}`;
      this.state = "connecting";
      this.send("40");
      this.poll();
    });
  }

  poll() {
    this.request("GET", null, (body) => {
      const run = this.run;
      for (const packet of body.split(RECORD_SEPARATOR)) {
        if (packet.charCodeAt(0) === 0x34 && packet.charCodeAt(1) === 0x32) {
          run.deliver(this, msgValueOfText(packet), packet);
        } else {
          run.control(this, packet);
        }
      }
      if (this.state !== "failed" && this.state !== "closing") this.poll();
    });
  }

  send(text) {
    this.outbox.push(text);
    if (!this.posting) {
      this.posting = true;
      process.nextTick(() => this.flush()); // what is sent in this tick goes in one POST
    }
  }

  flush() {
    const body = this.outbox.splice(0, MAX_PACKETS_PER_POST).join(RECORD_SEPARATOR);
    this.request("POST", body, (answer) => {
      if (answer.toLowerCase() !== "ok") this.fail(`POST answered ${answer.slice(0, 80)}`);
      if (this.outbox.length > 0) {
        this.flush();
      } else {
        this.posting = false;
      }
    });
  }

  // One HTTP request; `then(body)` on a 200, else the client fails. A keep-alive socket that
  // the server closed just as it was reused is retried once (Node's advice for an Agent).
  request(method, body, then, retried = false) {
    const { host, port } = this.run.opts;
    const headers = body === null ? {} : { "content-type": "text/plain; charset=UTF-8" };
    const req = http.request(
      { host, port, method, path: this.path, agent: this.run.agent, headers },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => {
          if (this.state === "closing") return;
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode !== 200) {
            this.fail(`${method} answered ${res.statusCode}: ${text.slice(0, 80)}`);
          } else {
            then(text);
          }
        });
        res.on("error", (err) => this.fail(`${method} response: ${err.message}`));
      },
    );
    req.on("error", (err) => {
      if (req.reusedSocket && err.code === "ECONNRESET" && !retried) {
        this.request(method, body, then, true);
      } else {
        this.fail(`${method}: ${err.message}`);
      }
    });
    req.end(body === null ? undefined : body);
  }

  close() {
    this.state = "closing";
  }
}

async function main() {
  const opts = parseArgs(process.argv);
  const run = new Run(opts);
  const result = {
    clients: opts.clients,
    says: opts.says,
    transport: opts.transport,
    rooms: opts.rooms,
    window: opts.window,
    deliveries: 0,
    expected: opts.says > 0 ? run.expected : 0,
    deliveries_per_s: null,
    elapsed_s: null,
    connect_s: null,
    cpu_ticks: null,
    loadgen_cpu_share: null,
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
      const cpuStart = cpuTicks(opts.pid);
      const ownCpuStart = ownCpuSeconds();
      const tStart = process.hrtime.bigint();
      run.startSays();
      try {
        await run.waitFor(() => run.finished === run.recipients, opts.timeout, "fanning out");
      } finally {
        result.deliveries = run.delivered;
      }
      result.elapsed_s = Number(run.tEnd - tStart) / 1e9;
      result.deliveries_per_s = run.delivered / result.elapsed_s;
      if (cpuStart !== null && run.cpuEnd !== null) result.cpu_ticks = run.cpuEnd - cpuStart;
      result.loadgen_cpu_share = (run.ownCpuEnd - ownCpuStart) / result.elapsed_s;
      // Late extras (duplicates, the sender's own message) would show up now.
      await sleep(LATE_WATCH_MS);
    }
  } catch (err) {
    run.error(`${run.phase}: ${err.message}`);
  }
  if (run.phase === "fanout" && run.finished !== run.recipients) {
    let short = 0;
    for (const client of run.clients) {
      if (client !== undefined && client.from >= 0 && client.next !== opts.says) {
        if (short++ < 5) run.error(`client ${client.index} got ${client.next} of ${opts.says}`);
      }
    }
    run.error(`${short} clients missed messages`);
  }
  run.closeAll();
  result.error_count = run.errorCount;
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(run.errorCount ? 1 : 0));
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ errors: [String(err && err.stack)], error_count: 1 })}\n`);
  process.exit(1);
});
