#!/usr/bin/env node
// A Socket.IO server of a mixed test cluster, driven by JSON lines on stdin/stdout.
//
//   node peer.mjs --port N --redis redis://HOST:PORT --mode classic|sharded|none --name NAME
//                 [--key socket.io] [--subscription-mode dynamic|static|dynamic-private]
//                 [--requests-timeout MS] [--specific-response-channel]
//
// The protocol (commands, replies, events) is specified in ../HARNESS.md; tests/cluster/_harness.py
// drives it. Every line written to stdout is one JSON object: a reply {"id", "result"} or
// {"id", "error"}, or an event {"event", ...}. Diagnostics go to stderr.

import http from "node:http";
import process from "node:process";
import { Server, Socket } from "socket.io";
import { createClient } from "redis";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";

const NAMESPACES = ["/", "/chat"];
const COMMAND_GUARD_MS = 20000; // no command reply later than this (every await is bounded)
const SETTLE_MS = 3000; // longest wait for the Redis subscriptions to match the rooms
const SHUTDOWN_MS = 3000; // quit / end of stdin: exit 0 at the latest after this

// ---------------------------------------------------------------------------------------------
// output

function out(obj) {
  process.stdout.write(JSON.stringify(toWire(obj)) + "\n");
}
const event = (name, fields = {}) => out({ event: name, ...fields });
const log = (...a) => process.stderr.write(`[peer ${NAME}] ${a.join(" ")}\n`);
const errorEvent = (message) => event("error", { message: String(message) });

// stdout carries the protocol only: whatever a library logs goes to stderr
console.log = console.info = console.debug = (...a) => process.stderr.write(`[console] ${a.join(" ")}\n`);
process.on("uncaughtException", (e) => errorEvent(`uncaught exception: ${e && e.stack ? e.stack : e}`));
process.on("unhandledRejection", (e) => errorEvent(`unhandled rejection: ${e && e.stack ? e.stack : e}`));

// JSON values <-> JS values: binary is {"$bin": "<base64>"} both ways
function isBinary(v) {
  return Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}
function toWire(v) {
  if (v === null || v === undefined || typeof v !== "object") {
    return typeof v === "function" || typeof v === "bigint" ? undefined : v;
  }
  if (Buffer.isBuffer(v)) return { $bin: v.toString("base64") };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("base64") };
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  if (Array.isArray(v)) return v.map(toWire);
  if (v instanceof Set) return [...v].map(toWire);
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

// rooms are sorted: numbers first (numeric order), then strings (code point order)
function compareRooms(a, b) {
  const ta = typeof a === "number" ? 0 : 1;
  const tb = typeof b === "number" ? 0 : 1;
  if (ta !== tb) return ta - tb;
  if (ta === 0) return a - b;
  const ca = [...String(a)].map((c) => c.codePointAt(0));
  const cb = [...String(b)].map((c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return ca[i] - cb[i];
  return ca.length - cb.length;
}
const sortedRooms = (rooms) => [...rooms].sort(compareRooms);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// arguments

function parseArgs(argv) {
  const opts = { key: "socket.io", subscriptionMode: "dynamic", requestsTimeout: null, specific: false };
  const need = (i) => {
    if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case "--port": opts.port = Number(need(i)); i++; break;
      case "--redis": opts.redis = need(i); i++; break;
      case "--mode": opts.mode = need(i); i++; break;
      case "--name": opts.name = need(i); i++; break;
      case "--key": opts.key = need(i); i++; break;
      case "--subscription-mode": opts.subscriptionMode = need(i); i++; break;
      case "--requests-timeout": opts.requestsTimeout = Number(need(i)); i++; break;
      case "--specific-response-channel": opts.specific = true; break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0) throw new Error("--port N is required (0: any free port)");
  if (!["classic", "sharded", "none"].includes(opts.mode)) throw new Error("--mode classic|sharded|none is required");
  if (opts.mode !== "none" && !opts.redis) throw new Error(`--redis URL is required in mode ${opts.mode}`);
  if (!["dynamic", "static", "dynamic-private"].includes(opts.subscriptionMode)) {
    throw new Error(`bad --subscription-mode ${opts.subscriptionMode}`);
  }
  if (opts.requestsTimeout !== null && !(opts.requestsTimeout > 0)) throw new Error("bad --requests-timeout");
  if (!opts.name) opts.name = `node-${process.pid}`;
  return opts;
}

let OPTS;
let NAME = "?";
try {
  OPTS = parseArgs(process.argv.slice(2));
  NAME = OPTS.name;
} catch (e) {
  errorEvent(`bad arguments: ${e.message}`);
  process.stderr.write(`peer.mjs: ${e.message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// server

const connName = (role) => `peer-${NAME}-${process.pid}-${role}`.replace(/[^A-Za-z0-9._-]/g, "_");
let pub = null;
let sub = null;
let emitterClient = null;
let io = null;
let httpServer = null;

function redisClient(role) {
  const c = createClient({ url: OPTS.redis, name: connName(role) });
  c.on("error", (e) => errorEvent(`redis ${role}: ${e.message}`));
  return c;
}

// Redis subscriptions the sub connection must hold for the current rooms: {sub, psub, ssub}
function expectedSubscriptions() {
  const want = { sub: 0, psub: 0, ssub: 0 };
  if (OPTS.mode === "classic") {
    // per namespace: the pattern K#N#*, and the request, response and specific response channels
    want.psub = io._nsps.size;
    want.sub = 3 * io._nsps.size;
  } else if (OPTS.mode === "sharded") {
    const channels = new Set();
    for (const nsp of io._nsps.values()) {
      const a = nsp.adapter;
      channels.add(a.channel);
      channels.add(a.responseChannel);
      if (OPTS.subscriptionMode !== "static") {
        for (const room of a.rooms.keys()) {
          if (a.shouldUseASeparateNamespace(room)) channels.add(a.dynamicChannel(room));
        }
      }
    }
    want.ssub = channels.size;
  }
  return want;
}

async function currentSubscriptions() {
  const list = await pub.sendCommand(["CLIENT", "LIST"]);
  const name = connName("sub");
  for (const line of String(list).split("\n")) {
    if (!line.includes(` name=${name} `)) continue;
    const field = (f) => Number((new RegExp(`\\b${f}=(\\d+)`).exec(line) || [])[1] || 0);
    return { sub: field("sub"), psub: field("psub"), ssub: field("ssub") };
  }
  return null;
}

// Resolves once Redis reports the subscriptions the rooms need (sharded dynamic modes subscribe
// to a channel per room, asynchronously). Bounded: reports an error event and goes on.
async function settle() {
  if (OPTS.mode === "none") return { settled: true };
  const start = Date.now();
  let got = null;
  let want = null;
  for (;;) {
    want = expectedSubscriptions();
    try {
      got = await withTimeout(currentSubscriptions(), 1000, "CLIENT LIST");
    } catch (e) {
      got = { error: e.message };
    }
    if (got && got.sub === want.sub && got.psub === want.psub && got.ssub === want.ssub) {
      return { settled: true, subscriptions: got };
    }
    if (Date.now() - start > SETTLE_MS) {
      const message = `subscriptions not settled after ${SETTLE_MS} ms: want ${JSON.stringify(want)}, `
        + `Redis reports ${JSON.stringify(got)}`;
      errorEvent(message);
      return { settled: false, subscriptions: got, expected: want };
    }
    await sleep(5);
  }
}
// in classic mode and static sharded mode the subscriptions never change after start
const roomsMaySubscribe = () => OPTS.mode === "sharded" && OPTS.subscriptionMode !== "static";
const settleIfDynamic = () => (roomsMaySubscribe() ? settle() : Promise.resolve());

// round trip on the publishing connection: what was published before has reached Redis
async function flush() {
  if (pub) await withTimeout(pub.ping(), 2000, "PING on the publishing connection");
}

function installBehaviour(nsp) {
  nsp.on("connection", async (socket) => {
    const auth = socket.handshake.auth || {};
    socket.data.name = auth.name;
    if (Array.isArray(auth.rooms)) socket.join(auth.rooms);
    socket.on("join", async (room, cb) => {
      await socket.join(room);
      await settleIfDynamic();
      if (typeof cb === "function") cb(true);
    });
    socket.on("leave", async (room, cb) => {
      await socket.leave(room);
      await settleIfDynamic();
      if (typeof cb === "function") cb(true);
    });
    socket.on("broadcast", async (spec, cb) => {
      try {
        const { rooms = [], except = [], event: ev, args = [] } = spec || {};
        socket.to(rooms).except(except).emit(ev, ...args);
        await flush();
        if (typeof cb === "function") cb(true);
      } catch (e) {
        errorEvent(`client broadcast: ${e.message}`);
        if (typeof cb === "function") cb(false);
      }
    });
    socket.on("disconnect", (reason) => {
      event("disconnect", { nsp: nsp.name, sid: socket.id, name: socket.data.name ?? null, reason });
    });
    await settleIfDynamic();
    event("connection", { nsp: nsp.name, sid: socket.id, name: socket.data.name ?? null });
  });
  nsp.on("ping-server", (...args) => {
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    event("server_side", { nsp: nsp.name, name: "ping-server", args, with_ack: cb !== null });
    if (cb) cb({ from: NAME });
  });
}

async function start() {
  httpServer = http.createServer();
  let adapter;
  if (OPTS.mode !== "none") {
    pub = redisClient("pub");
    sub = redisClient("sub");
    await withTimeout(Promise.all([pub.connect(), sub.connect()]), 5000, "connecting to Redis");
    if (OPTS.mode === "classic") {
      const o = { key: OPTS.key, publishOnSpecificResponseChannel: OPTS.specific };
      if (OPTS.requestsTimeout !== null) o.requestsTimeout = OPTS.requestsTimeout;
      adapter = createAdapter(pub, sub, o);
    } else {
      adapter = createShardedAdapter(pub, sub, { channelPrefix: OPTS.key, subscriptionMode: OPTS.subscriptionMode });
    }
  }
  io = new Server(httpServer, adapter ? { adapter } : {});
  for (const name of NAMESPACES) installBehaviour(io.of(name));
  const ready = await settle();
  if (!ready.settled) throw new Error("the adapters' subscriptions did not reach Redis");
  await withTimeout(new Promise((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(OPTS.port, "127.0.0.1", resolve);
  }), 5000, `listening on port ${OPTS.port}`);
  event("ready", { port: httpServer.address().port });
}

// ---------------------------------------------------------------------------------------------
// commands

const nspOf = (c) => io.of(c.nsp ?? "/");
const list = (v) => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);

function target(c) {
  return nspOf(c).to(list(c.rooms)).except(list(c.except));
}

function applyFlags(op, flags) {
  // in the order of the keys: the order of the calls shows in the wire format
  for (const [flag, value] of Object.entries(flags || {})) {
    if (!["volatile", "compress", "local"].includes(flag)) throw new Error(`unknown flag ${flag}`);
    if (!(flag in op)) throw new Error(`flag ${flag} is not supported here`);
    if (flag === "compress") op = op.compress(Boolean(value));
    else if (value) op = op[flag];
  }
  return op;
}

async function settleAck(promise) {
  try {
    return { responses: await promise, error: null };
  } catch (e) {
    return { responses: e.responses === undefined ? null : e.responses, error: e.message };
  }
}

function describe(sockets) {
  return sockets
    .map((s) => ({ id: s.id, rooms: sortedRooms(s.rooms), data: s.data, handshake_auth: s.handshake.auth }))
    .sort((a, b) => {
      const na = String(a.data?.name ?? "");
      const nb = String(b.data?.name ?? "");
      return na < nb ? -1 : na > nb ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    });
}

function emitterFor(c) {
  if (c.mode !== undefined && c.mode !== null && c.mode !== "classic") {
    throw new Error(`@socket.io/redis-emitter 5.1.0 has no ${c.mode} mode (classic PUBLISH only)`);
  }
  if (!emitterClient) throw new Error("no emitter: the peer was started without --redis");
  return new Emitter(emitterClient.client, { key: c.key ?? OPTS.key }).of(c.nsp ?? "/");
}
async function emitterReady() {
  if (!OPTS.redis) throw new Error("no emitter: the peer was started without --redis");
  if (!emitterClient) {
    const client = redisClient("emitter");
    emitterClient = { client, connecting: withTimeout(client.connect(), 5000, "connecting the emitter") };
  }
  await emitterClient.connecting;
}
async function emitterFlush() {
  await withTimeout(emitterClient.client.ping(), 2000, "PING on the emitter connection");
}

const COMMANDS = {
  async broadcast(c) {
    applyFlags(target(c), c.flags).emit(c.event, ...list(c.args));
    await flush();
    return null;
  },
  async broadcast_with_ack(c) {
    const op = applyFlags(target(c), c.flags).timeout(c.timeout_ms ?? 2000);
    return settleAck(op.emitWithAck(c.event, ...list(c.args)));
  },
  async fetch_sockets(c) {
    let op = target(c);
    if (c.timeout_ms !== undefined && c.timeout_ms !== null) op = op.timeout(c.timeout_ms);
    return describe(await op.fetchSockets());
  },
  async sockets_join(c) {
    target(c).socketsJoin(c.room);
    await flush();
    return null;
  },
  async sockets_leave(c) {
    target(c).socketsLeave(c.room);
    await flush();
    return null;
  },
  async disconnect_sockets(c) {
    target(c).disconnectSockets(Boolean(c.close));
    await flush();
    return null;
  },
  async server_side_emit(c) {
    nspOf(c).serverSideEmit(c.event, ...list(c.args));
    await flush();
    return null;
  },
  async server_side_emit_with_ack(c) {
    if (OPTS.mode === "none") {
      // the in-memory adapter only warns and never calls back
      throw new Error("serverSideEmit() is not supported by the in-memory adapter (mode none)");
    }
    // Node can't set a timeout per call: the classic adapter waits --requests-timeout (default
    // 5000 ms), the sharded one 5000 ms; timeout_ms is not used
    return settleAck(nspOf(c).serverSideEmitWithAck(c.event, ...list(c.args)));
  },
  async server_count(c) {
    return await withTimeout(Promise.resolve(nspOf(c).adapter.serverCount()), 5000, "serverCount()");
  },
  async all_rooms(c) {
    const adapter = nspOf(c).adapter;
    if (typeof adapter.allRooms !== "function") {
      throw new Error(`allRooms() is not supported by the ${OPTS.mode} adapter`);
    }
    return sortedRooms(await adapter.allRooms());
  },
  async remote_socket(c) {
    // the socket id is "sid": "id" is the command's
    const sockets = await nspOf(c).in(c.sid).fetchSockets();
    const s = sockets.find((x) => x.id === c.sid);
    if (!s) throw new Error(`no socket ${c.sid} in ${c.nsp ?? "/"}`);
    switch (c.action) {
      case "emit": s.emit(c.event, ...list(c.args)); break;
      case "join": await s.join(c.room); break;
      case "leave": await s.leave(c.room); break;
      case "disconnect": s.disconnect(Boolean(c.close)); break;
      default: throw new Error(`unknown remote_socket action ${c.action}`);
    }
    await flush();
    return { local: s instanceof Socket };
  },
  async local_rooms(c) {
    await settleIfDynamic();
    const result = {};
    for (const [sid, rooms] of nspOf(c).adapter.sids) result[sid] = sortedRooms(rooms);
    return result;
  },
  async sync() {
    return await settle();
  },
  async info() {
    const uids = {};
    for (const [name, nsp] of io._nsps) uids[name] = nsp.adapter.uid ?? null;
    return { name: NAME, mode: OPTS.mode, port: httpServer.address().port, key: OPTS.key,
      subscription_mode: OPTS.mode === "sharded" ? OPTS.subscriptionMode : null, uids, pid: process.pid };
  },
  async emitter(c) {
    await emitterReady();
    applyFlags(emitterFor(c).to(list(c.rooms)).except(list(c.except)), c.flags).emit(c.event, ...list(c.args));
    await emitterFlush();
    return null;
  },
  async emitter_sockets_join(c) {
    await emitterReady();
    emitterFor(c).in(list(c.rooms)).except(list(c.except)).socketsJoin(c.room);
    await emitterFlush();
    return null;
  },
  async emitter_sockets_leave(c) {
    await emitterReady();
    emitterFor(c).in(list(c.rooms)).except(list(c.except)).socketsLeave(c.room);
    await emitterFlush();
    return null;
  },
  async emitter_disconnect_sockets(c) {
    await emitterReady();
    emitterFor(c).in(list(c.rooms)).except(list(c.except)).disconnectSockets(Boolean(c.close));
    await emitterFlush();
    return null;
  },
  async emitter_server_side_emit(c) {
    await emitterReady();
    emitterFor(c).serverSideEmit(c.event, ...list(c.args));
    await emitterFlush();
    return null;
  },
};

let shuttingDown = false;
async function shutdown(reply) {
  if (shuttingDown) return;
  shuttingDown = true;
  setTimeout(() => {
    log("shutdown took too long, exiting");
    process.exit(0);
  }, SHUTDOWN_MS).unref();
  try {
    if (io) await withTimeout(new Promise((r) => io.close(() => r())), 1500, "io.close()");
  } catch (e) {
    errorEvent(e.message);
  }
  const clients = [pub, sub, emitterClient && emitterClient.client].filter(Boolean);
  await withTimeout(Promise.allSettled(clients.map((c) => c.disconnect())), 1000, "closing Redis connections")
    .catch((e) => errorEvent(e.message));
  if (reply) reply();
  process.exit(0);
}

async function handle(line) {
  let cmd;
  try {
    cmd = fromWire(JSON.parse(line));
  } catch (e) {
    return errorEvent(`unreadable command line ${JSON.stringify(line)}: ${e.message}`);
  }
  const id = cmd && cmd.id;
  if (cmd === null || typeof cmd !== "object" || id === undefined) {
    return errorEvent(`command without an id: ${line}`);
  }
  if (cmd.op === "quit") return shutdown(() => out({ id, result: null }));
  const fn = Object.hasOwn(COMMANDS, cmd.op) ? COMMANDS[cmd.op] : null;
  if (!fn) return out({ id, error: `unknown op ${JSON.stringify(cmd.op)}` });
  try {
    await started; // commands sent before "ready" wait for it
    const result = await withTimeout(fn(cmd), COMMAND_GUARD_MS, `op ${cmd.op}`);
    out({ id, result: result === undefined ? null : result });
  } catch (e) {
    out({ id, error: e && e.message ? e.message : String(e) });
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
process.stdin.on("end", () => shutdown(null)); // the driver is gone: never outlive it
process.on("SIGTERM", () => shutdown(null));

const started = start();
started.catch((e) => {
  errorEvent(`start failed: ${e && e.stack ? e.stack : e}`);
  process.stderr.write(`peer.mjs: start failed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
