#!/usr/bin/env node
// Golden data for the wire format of @socket.io/redis-streams-adapter 0.3, driven by JSON lines
// on stdin/stdout (the framing of ../HARNESS.md, so that _harness.JsonLineProcess can drive it).
//
//   node streams_capture.cjs
//
// Commands:
//   {"op": "capture", "redis": url}  two socket.io servers (s1, s2) with the streams adapter and
//       connectionStateRecovery, namespaces "/" and "/chat", socket.io-client clients; runs the
//       scenarios below one after the other and answers with what Redis saw: every command of
//       the adapters' connections (MONITOR, argument bytes exact, in base64), every pub/sub
//       message (PSUBSCRIBE "socket.io#*", payloads in base64), the servers' uids, the clients'
//       ids, a session left in Redis (client p1, cut off, never back) and a recovery (client q1,
//       cut off, events missed, back: what it received). Last, a server s3 with streamCount 3
//       emits in several namespaces: which stream each one's XADD went to (stream_of).
//   {"op": "serve", "redis": url}  one server n1 (streams adapter, recovery on) and clients
//       c1 ("/", rooms r1), c2 ("/", rooms r2), c3 ("/chat", rooms r1); answers with their ids
//       and the adapters' uids once the adapter reads the stream. Events: {"event": "received",
//       client, ev, args} for every event a client gets; {"event": "server-side", ev, args} for
//       every serverSideEmit n1 gets ("sse-ack" is answered with ["pong", ...args]);
//       {"event": "disconnected", client, reason}. Clients answer an event named "ack-me" with
//       {"from": name}.
//   {"op": "restore", "name", "pid", "offset"}  (after serve) a client connects to n1 "/" with
//       auth {pid, offset}: answers {id, recovered, rooms (server side), data (server side)}.
//   {"op": "quit"}
//
// Binary values are {"$bin": base64} both ways. Every wait has a limit; a command gives up
// after COMMAND_GUARD_MS.

"use strict";

const http = require("node:http");
const net = require("node:net");
const process = require("node:process");
const { readFileSync } = require("node:fs");
const { Server } = require("socket.io");
const { io: ioc } = require("socket.io-client");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-streams-adapter");

const COMMAND_GUARD_MS = 30000;
// namespaces whose hashCode % 3 is 2, 1, 0, -2, -1 and -0 (written "0" by JavaScript)
const HASHED_NAMESPACES = ["/", "/chat", "/admin", "/namespace-with-a-long-name", "/négatif", "/😀", "/zzzzzzzzzz", "/a-b-c-d-e-f"];
const WAIT_MS = 5000;
const QUIET_MS = 150;

function out(obj) {
  process.stdout.write(JSON.stringify(toWire(obj)) + "\n");
}
const event = (name, fields = {}) => out({ event: name, ...fields });
const errorEvent = (message) => event("error", { message: String(message) });

console.log = console.info = console.debug = (...a) => process.stderr.write(`[console] ${a.join(" ")}\n`);
process.on("uncaughtException", (e) => errorEvent(`uncaught exception: ${e && e.stack ? e.stack : e}`));
process.on("unhandledRejection", (e) => errorEvent(`unhandled rejection: ${e && e.stack ? e.stack : e}`));

function toWire(v) {
  if (v === null || v === undefined || typeof v !== "object") {
    return typeof v === "function" || typeof v === "bigint" ? undefined : v;
  }
  if (Buffer.isBuffer(v)) return { $bin: v.toString("base64") };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("base64") };
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  if (Array.isArray(v)) return v.map(toWire);
  if (typeof v.toJSON === "function") return toWire(v.toJSON());
  const o = {};
  for (const k of Object.keys(v)) o[k] = toWire(v[k]);
  return o;
}
function fromWire(v) {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(fromWire);
  const keys = Object.keys(v);
  if (keys.length === 1 && keys[0] === "$bin" && typeof v.$bin === "string") return Buffer.from(v.$bin, "base64");
  const o = {};
  for (const k of keys) o[k] = fromWire(v[k]);
  return o;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, check, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}`);
    await sleep(10);
  }
}

function version(name) {
  const file = require.resolve(`${name}/package.json`, { paths: [__dirname] });
  return JSON.parse(readFileSync(file, "utf8")).version;
}

function versions() {
  const fromSocketIo = (name) => {
    const file = require.resolve(`${name}/package.json`, { paths: [require.resolve("socket.io")] });
    return JSON.parse(readFileSync(file, "utf8")).version;
  };
  return {
    node: process.versions.node,
    "@socket.io/redis-streams-adapter": version("@socket.io/redis-streams-adapter"),
    "@msgpack/msgpack": version("@msgpack/msgpack"),
    "socket.io": version("socket.io"),
    "socket.io-client": version("socket.io-client"),
    "socket.io-adapter": fromSocketIo("socket.io-adapter"),
    redis: version("redis"),
  };
}

// ---------------------------------------------------------------------------------------------
// MONITOR (a raw RESP connection; redis' sdscatrepr() quoting undone) and PSUBSCRIBE

function unrepr(s, i) {
  const bytes = [];
  i++;
  for (;;) {
    const c = s[i];
    if (c === undefined) throw new Error("unterminated MONITOR argument");
    if (c === '"') return [Buffer.from(bytes), i + 1];
    if (c === "\\") {
      const n = s[i + 1];
      const simple = { n: 10, r: 13, t: 9, a: 7, b: 8, "\\": 92, '"': 34 };
      if (n in simple) {
        bytes.push(simple[n]);
        i += 2;
      } else if (n === "x") {
        bytes.push(parseInt(s.slice(i + 2, i + 4), 16));
        i += 4;
      } else throw new Error(`bad MONITOR escape \\${n}`);
    } else {
      bytes.push(c.charCodeAt(0));
      i++;
    }
  }
}

function parseMonitorLine(line) {
  const m = /^(\d+\.\d+) \[(\d+) ([^\]]+)\] (.*)$/s.exec(line);
  if (!m) return null;
  const args = [];
  let i = 0;
  const rest = m[4];
  while (i < rest.length) {
    if (rest[i] === " ") {
      i++;
      continue;
    }
    const [b, next] = unrepr(rest, i);
    args.push(b);
    i = next;
  }
  return { addr: m[3], args };
}

function openMonitor(url, onCommand) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: u.hostname, port: Number(u.port || 6379) });
    let buf = "";
    let ready = false;
    sock.on("connect", () => sock.write("*1\r\n$7\r\nMONITOR\r\n"));
    sock.on("error", reject);
    sock.setEncoding("latin1");
    sock.on("data", (chunk) => {
      buf += chunk;
      let idx;
      while ((idx = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        if (line[0] === "-") return reject(new Error(`MONITOR: ${line}`));
        if (!ready) {
          ready = line === "+OK";
          if (ready) resolve(sock);
          continue;
        }
        const cmd = parseMonitorLine(line.slice(1));
        if (cmd) onCommand(cmd);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// servers and clients

async function startServer(name, url, received, adapterOptions = {}) {
  const redis = createClient({ url });
  redis.on("error", () => {});
  await redis.connect();
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    adapter: createAdapter(redis, adapterOptions),
    connectionStateRecovery: {},
  });
  for (const nsp of ["/", "/chat"]) {
    io.of(nsp).on("connection", (socket) => {
      const auth = socket.handshake.auth || {};
      if (!socket.recovered) {
        socket.join(auth.rooms || []);
        // binary and a Date as well, which the CONNECT packet's JSON cannot carry
        socket.data = auth.data ? { ...auth.data, bin: Buffer.from([5, 6]), at: new Date(0) } : {};
      }
    });
    for (const ev of ["sse", "sse-ack"]) {
      io.of(nsp).on(ev, (...args) => {
        const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
        received.push({ server: name, nsp, ev, args });
        event("server-side", { server: name, nsp, ev, args });
        if (ack) ack(["pong", ...args]);
      });
    }
  }
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const port = httpServer.address().port;
  const uids = { "/": io.of("/").adapter.uid, "/chat": io.of("/chat").adapter.uid };
  return { name, io, redis, httpServer, port, uids };
}

async function stopServer(server) {
  // Closing disconnects the sockets still there ("server shutting down": their sessions are
  // persisted, a SET nobody awaits) and the adapters (the stream readers stop after their
  // BLOCK). QUIT lets the commands already sent finish first.
  server.io.close();
  await server.redis.quit().catch(() => {});
}

function connectClient(name, server, nsp, auth, log) {
  const socket = ioc(`http://127.0.0.1:${server.port}${nsp}`, {
    transports: ["websocket"],
    reconnection: false,
    auth,
  });
  const client = { name, socket, received: [] };
  socket.onAny((ev, ...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    client.received.push([ev, ...args]);
    if (log) event("received", { client: name, ev, args });
    if (ack) ack(name === "a2" ? { from: name, bin: Buffer.from([0xab]) } : { from: name });
  });
  if (log) socket.on("disconnect", (reason) => event("disconnected", { client: name, reason }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: not connected in time`)), WAIT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(client);
    });
    socket.once("connect_error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${name}: ${e.message}`));
    });
  });
}

async function waitReading(url, servers, commands) {
  // The adapter reads the stream from "$" with a client of its own, started asynchronously:
  // an entry added before its first XREAD is never seen. Wait for that XREAD, and for the
  // pub/sub subscriptions (PUBSUB NUMSUB is the adapter's serverCount()).
  await until("the stream readers", () =>
    commands.filter((c) => c.args[0].toString().toUpperCase() === "XREAD").length >= servers.length,
  );
  const probe = createClient({ url });
  await probe.connect();
  try {
    await until("the subscriptions", async () => {
      const counts = await probe.sendCommand(["PUBSUB", "NUMSUB", "socket.io#/#", "socket.io#/chat#"]);
      return Number(counts[1]) === servers.length && Number(counts[3]) === servers.length;
    });
  } finally {
    await probe.disconnect();
  }
}

function isOwn(name) {
  return ["XADD", "XREAD", "XRANGE", "SET", "GET", "DEL", "MULTI", "EXEC", "PUBLISH"].includes(name);
}

// ---------------------------------------------------------------------------------------------
// capture

async function capture({ redis: url }) {
  const commands = [];
  const monitor = await openMonitor(url, (cmd) => commands.push(cmd));
  const pubsub = [];
  const listener = createClient({ url });
  listener.on("error", () => {});
  await listener.connect();
  await listener.pSubscribe("socket.io#*", (payload, channel) => pubsub.push({ channel, payload }), true);

  const serverEvents = [];
  const s1 = await startServer("s1", url, serverEvents);
  const s2 = await startServer("s2", url, serverEvents);
  const servers = [s1, s2];
  const clients = [];
  try {
    await waitReading(url, servers, commands);
    const connect = async (...args) => {
      const client = await connectClient(...args);
      clients.push(client);
      return client;
    };
    const a1 = await connect("a1", s1, "/", { rooms: ["r1"] });
    const a2 = await connect("a2", s2, "/", { rooms: ["r1", "r2"] });
    const a3 = await connect("a3", s2, "/", {});
    const b1 = await connect("b1", s2, "/chat", { rooms: ["r1"] });
    const g1 = await connect("g1", s2, "/", { rooms: ["gone"] });

    const count = (name) => commands.filter((c) => c.args[0].toString().toUpperCase() === name).length;
    const received = (client, ev) => client.received.filter((r) => r[0] === ev).length;
    // Each step waits for its command(s) in Redis, and for the remote clients where any.
    const step = async (what, action, { xadd = 0, publish = 0, set = 0, wait = [] }) => {
      const before = { XADD: count("XADD"), PUBLISH: count("PUBLISH"), SET: count("SET") };
      await action();
      await until(what, () =>
        count("XADD") >= before.XADD + xadd &&
        count("PUBLISH") >= before.PUBLISH + publish &&
        count("SET") >= before.SET + set &&
        wait.every(([client, ev, n]) => received(client, ev) >= (n || 1)),
      );
      await sleep(QUIET_MS);
    };

    const io1 = s1.io;
    const io2 = s2.io;
    await step("text", () => io1.emit("text", "hello", 1, 2.5, -7, true, false, null, { a: [1, "x"], "é": "€😀" }, []), {
      xadd: 1,
      wait: [[a2, "text"], [a3, "text"], [g1, "text"]],
    });
    await step("binary", () => io1.emit("bin", Buffer.from([1, 2, 3]), { nested: Buffer.from([255, 0]) }, "after"), {
      xadd: 1,
      wait: [[a2, "bin"]],
    });
    await step("rooms", () => io1.to("r1").except("r2").emit("rooms", "x"), { xadd: 1 });
    await step("chat", () => io1.of("/chat").to(["r1", "r3"]).emit("chat", 42), { xadd: 1, wait: [[b1, "chat"]] });
    await step("volatile", () => io1.volatile.emit("vol", 1), { xadd: 1, wait: [[a3, "vol"]] });
    await step("compress", () => io1.compress(false).emit("nocompress", 2), { xadd: 1, wait: [[a3, "nocompress"]] });
    await step("numeric room", () => io1.to(42).emit("num", 1), { xadd: 1 });
    let acks = null;
    await step(
      "broadcast with acks",
      async () => {
        acks = await io1.timeout(2000).emitWithAck("ack-me", "q");
      },
      { publish: 1 + 1 + 3 },
    );
    await step("join", () => io1.in("r1").socketsJoin(["r9", "r10"]), { xadd: 1 });
    await step("leave", () => io1.in("r9").socketsLeave("r10"), { xadd: 1 });
    await step("server side emit", () => io1.serverSideEmit("sse", 1, "two", Buffer.from([9])), { publish: 1 });
    let sseAnswers = null;
    await step(
      "server side emit with ack",
      async () => {
        sseAnswers = await io1.serverSideEmitWithAck("sse-ack", 3);
      },
      { publish: 2 },
    );
    let fetched = null;
    await step(
      "fetch sockets",
      async () => {
        fetched = (await io1.in("r1").fetchSockets()).map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data }));
      },
      { publish: 2 },
    );
    await step("disconnect", () => io1.in("gone").disconnectSockets(true), { xadd: 1 });
    await until("g1 gone", () => !g1.socket.connected);

    // A session left behind: p1 is cut off (transport close) and never comes back.
    const p1 = await connect("p1", s2, "/", { rooms: ["keep"], data: { user: "p", n: 1, bin: Buffer.from([5, 6]) } });
    await step("for p1", () => io1.to("keep").emit("for-p", 1), { xadd: 1, wait: [[p1, "for-p"]] });
    const session = { sid: p1.socket.id, pid: p1.socket._pid, offset: p1.socket._lastOffset };
    await step("p1 cut", () => p1.socket.io.engine.close(), { set: 1 });

    // A recovery: q1 is cut off, misses some events, comes back.
    const q1 = await connect("q1", s1, "/", { rooms: ["q"] });
    await step("before", () => io2.to("q").emit("before", 1), { xadd: 1, wait: [[q1, "before"]] });
    const recovery = { sid: q1.socket.id, pid: q1.socket._pid, offset: q1.socket._lastOffset };
    await step("q1 cut", () => q1.socket.io.engine.close(), { set: 1 });
    await step("missed", async () => {
      io2.to("q").emit("missed-room", 1);
      io2.emit("missed-all", Buffer.from([7]));
      io2.to("other").emit("not-for-q");
      io2.except("q").emit("not-for-q-2");
      io2.to("q").volatile.emit("missed-volatile");
      io2.of("/chat").to("q").emit("other-namespace");
    }, { xadd: 6 });
    const mark = q1.received.length;
    q1.socket.connect();
    await until("q1 back", () => q1.socket.connected);
    await sleep(QUIET_MS);
    Object.assign(recovery, {
      sid_after: q1.socket.id,
      pid_after: q1.socket._pid,
      recovered: q1.socket.recovered,
      received_after: q1.received.slice(mark),
    });
    await sleep(QUIET_MS);

    // Several streams: which one each namespace goes to (s3 alone, nobody reads them).
    const s3 = await startServer("s3", url, serverEvents, { streamName: "multi", streamCount: 3 });
    servers.push(s3);
    const streamOf = {};
    for (const nsp of HASHED_NAMESPACES) {
      const before = count("XADD");
      s3.io.of(nsp).emit("hash", nsp);
      await until(`XADD for ${nsp}`, () => count("XADD") > before);
      const xadd = commands.filter((c) => c.args[0].toString().toUpperCase() === "XADD").pop();
      streamOf[nsp] = xadd.args[1].toString();
    }

    return {
      versions: versions(),
      stream_of: streamOf,
      uids: { s1: s1.uids, s2: s2.uids },
      sockets: Object.fromEntries(clients.map((c) => [c.name, c.socket.id || null])),
      commands: commands.filter((c) => isOwn(c.args[0].toString().toUpperCase())).map((c) => c.args),
      pubsub,
      acks,
      sse_answers: sseAnswers,
      fetched,
      server_events: serverEvents,
      received: Object.fromEntries(clients.map((c) => [c.name, c.received])),
      session,
      recovery,
    };
  } finally {
    for (const c of clients) c.socket.disconnect();
    for (const s of servers) await stopServer(s);
    await listener.disconnect().catch(() => {});
    monitor.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// serve

let served = null;

async function serve({ redis: url }) {
  if (served) throw new Error("already serving");
  const commands = [];
  const monitor = await openMonitor(url, (cmd) => commands.push(cmd));
  const n1 = await startServer("n1", url, []);
  served = { server: n1, clients: [] };
  try {
    await waitReading(url, [n1], commands);
  } finally {
    monitor.destroy();
  }
  for (const [name, nsp, rooms] of [["c1", "/", ["r1"]], ["c2", "/", ["r2"]], ["c3", "/chat", ["r1"]]]) {
    served.clients.push(await connectClient(name, n1, nsp, { rooms }, true));
  }
  return {
    uids: n1.uids,
    sockets: Object.fromEntries(served.clients.map((c) => [c.name, c.socket.id])),
  };
}

async function restore({ name, pid, offset }) {
  if (!served) throw new Error("not serving");
  const client = await connectClient(name, served.server, "/", { pid, offset }, true);
  served.clients.push(client);
  const socket = served.server.io.of("/").sockets.get(client.socket.id);
  return {
    id: client.socket.id,
    recovered: socket.recovered,
    rooms: [...socket.rooms],
    data: socket.data,
  };
}

// ---------------------------------------------------------------------------------------------
// framing

const COMMANDS = { capture, serve, restore };
let shuttingDown = false;

async function shutdown(reply) {
  if (shuttingDown) return;
  shuttingDown = true;
  if (served) {
    for (const { socket } of served.clients) socket.disconnect();
    await stopServer(served.server).catch(() => {});
  }
  if (reply) reply();
  setTimeout(() => process.exit(0), 50).unref();
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function handle(line) {
  let cmd;
  try {
    cmd = fromWire(JSON.parse(line));
  } catch (e) {
    return errorEvent(`unreadable command line ${JSON.stringify(line)}: ${e.message}`);
  }
  const id = cmd && cmd.id;
  if (cmd === null || typeof cmd !== "object" || id === undefined) return errorEvent(`command without an id: ${line}`);
  if (cmd.op === "quit") return shutdown(() => out({ id, result: null }));
  const fn = Object.hasOwn(COMMANDS, cmd.op) ? COMMANDS[cmd.op] : null;
  if (!fn) return out({ id, error: `unknown op ${JSON.stringify(cmd.op)}` });
  try {
    const result = await withTimeout(fn(cmd), COMMAND_GUARD_MS, `op ${cmd.op}`);
    out({ id, result: result === undefined ? null : result });
  } catch (e) {
    out({ id, error: e && e.stack ? e.stack : String(e) });
  }
}

let buffered = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buffered += chunk;
  let i;
  while ((i = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, i).trim();
    buffered = buffered.slice(i + 1);
    if (line) handle(line);
  }
});
process.stdin.on("end", () => shutdown(null));
process.on("SIGTERM", () => shutdown(null));
event("ready", { pid: process.pid });
