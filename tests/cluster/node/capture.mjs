#!/usr/bin/env node
// Captures the Redis wire format of @socket.io/redis-adapter 8.3 and @socket.io/redis-emitter 5.1.
//
//   node capture.mjs <redis-url> <adapter|emitter|sharded>  > ../fixtures/<file>.json
//
// Drives scripted scenarios with real socket.io servers (two per cluster, each with its own
// Redis connections) and real socket.io-client clients, and records every message published
// to Redis, labelled with the scenario that produced it. See ../README.md.
//
// How messages are recorded:
//   * a raw MONITOR connection sees every command the server executes, in execution order,
//     with its connection address (-> which server published) and exact argument bytes;
//   * for the classic adapter and the emitter, a PSUBSCRIBE "*" connection also receives
//     every PUBLISH with its exact payload bytes; the two views are compared message by
//     message and the capture aborts if they differ;
//   * sharded messages (SPUBLISH) come from MONITOR only: subscribing to the shard channels
//     (SSUBSCRIBE) would add one subscriber to PUBSUB SHARDNUMSUB, i.e. to the adapter's
//     serverCount(), and change the behaviour being recorded (requests would wait for an
//     answer that never comes). The classic pass proves the MONITOR decoding byte-exact.
// Scenario boundaries: after each scenario the script waits for quiescence (no Redis traffic
// and no client/server event for QUIET_MS), then PUBLISHes a marker on MARKER_CHANNEL and
// waits for it on both connections; what arrived between two markers belongs to the scenario.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { Server } from "socket.io";
import { io as ioc } from "socket.io-client";
import { createClient } from "redis";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";

const require = createRequire(import.meta.url);
// The very module instance the adapter and the emitter use (npm dedupes it; checked below).
const notepack = require("notepack.io");

const QUIET_MS = 100;
const MAX_SETTLE_MS = 3000;
const GLOBAL_TIMEOUT_MS = 55000;
const MARKER_CHANNEL = "capture-marker";
const ACK_TIMEOUT = 500;

const [, , REDIS_URL, MODE] = process.argv;
if (!REDIS_URL || !["adapter", "emitter", "sharded"].includes(MODE)) {
  process.stderr.write("usage: node capture.mjs <redis-url> <adapter|emitter|sharded>\n");
  process.exit(2);
}
const log = (...a) => process.stderr.write(a.join(" ") + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const watchdog = setTimeout(() => {
  log(`capture: global timeout (${GLOBAL_TIMEOUT_MS} ms) reached, aborting`);
  process.exit(1);
}, GLOBAL_TIMEOUT_MS);
watchdog.unref();

// ---------------------------------------------------------------------------------------------
// versions

function pkgVersion(name, from) {
  // the directory node_modules/<name> that `from` (or this script) resolves `name` to
  const req = createRequire(from ? require.resolve(from) : import.meta.url);
  const file = req.resolve(name);
  const marker = `node_modules/${name}/`;
  const dir = file.slice(0, file.lastIndexOf(marker) + marker.length - 1);
  const pj = JSON.parse(readFileSync(`${dir}/package.json`, "utf8"));
  if (pj.name !== name) throw new Error(`unexpected package.json in ${dir}`);
  return { version: pj.version, path: dir };
}

function versions() {
  const out = { node: process.versions.node };
  const top = ["socket.io", "socket.io-client", "@socket.io/redis-adapter", "@socket.io/redis-emitter",
    "notepack.io", "redis"];
  for (const n of top) out[n] = pkgVersion(n).version;
  out["socket.io-adapter"] = pkgVersion("socket.io-adapter", "socket.io").version;
  out["socket.io-parser"] = pkgVersion("socket.io-parser", "socket.io").version;
  out["engine.io"] = pkgVersion("engine.io", "socket.io").version;
  out["engine.io-client"] = pkgVersion("engine.io-client", "socket.io-client").version;
  out["@redis/client"] = pkgVersion("@redis/client", "redis").version;
  out["uid2"] = pkgVersion("uid2", "@socket.io/redis-adapter").version;
  // the notepack.io used by the adapter and the emitter must be the one used here for decoding
  const mine = pkgVersion("notepack.io").path;
  for (const user of ["@socket.io/redis-adapter", "@socket.io/redis-emitter"]) {
    const theirs = pkgVersion("notepack.io", user);
    if (theirs.path !== mine) throw new Error(`${user} uses another notepack.io (${theirs.path})`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// rendering of decoded values as JSON (binary and dates tagged)

function tag(v) {
  if (v === undefined) return { $undefined: true };
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : { $float: String(v) };
  if (typeof v === "bigint") return { $bigint: String(v) };
  if (typeof v === "function") return { $function: true };
  if (Buffer.isBuffer(v)) return { $bin: v.toString("base64") };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("base64") };
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  if (v instanceof Date) return { $date: v.toISOString() };
  if (v instanceof Set) return [...v].map(tag);
  if (Array.isArray(v)) return v.map(tag);
  const o = {};
  for (const k of Object.keys(v)) o[k] = tag(v[k]);
  return o;
}

function decodePayload(buf) {
  if (buf.length > 0 && buf[0] === 0x7b) {
    return { encoding: "json", decoded: JSON.parse(buf.toString("utf8")) };
  }
  return { encoding: "msgpack", decoded: tag(notepack.decode(buf)) };
}

// ---------------------------------------------------------------------------------------------
// MONITOR: raw RESP connection, unescaping of redis' sdscatrepr() quoting

function unrepr(s, i) {
  // s[i] === '"'; returns [Buffer, nextIndex]
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
    if (rest[i] === " ") { i++; continue; }
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
    let oks = 0;
    const pre = [];
    if (u.password) pre.push(["AUTH", ...(u.username ? [decodeURIComponent(u.username)] : []), decodeURIComponent(u.password)]);
    pre.push(["CLIENT", "SETNAME", "capture-monitor"], ["MONITOR"]);
    const resp = (args) => `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("");
    sock.on("connect", () => sock.write(pre.map(resp).join("")));
    sock.on("error", reject);
    sock.setEncoding("latin1");
    sock.on("data", (chunk) => {
      buf += chunk;
      let idx;
      while ((idx = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        if (line[0] === "-") return reject(new Error(`MONITOR: ${line}`));
        if (oks < pre.length) {
          if (line === "+OK") oks++;
          if (oks === pre.length) resolve(sock);
          continue;
        }
        const cmd = parseMonitorLine(line.slice(1));
        if (cmd) onCommand(cmd);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// topology

const CLIENTS_BASE = [
  // name, server, namespace, rooms joined at connection, delay before acknowledging "ack-me"
  { name: "c1", server: "s1", nsp: "/", rooms: ["room1"], ackDelay: 0 },
  { name: "c2", server: "s1", nsp: "/", rooms: ["room2", 42], ackDelay: 40 },
  { name: "c3", server: "s2", nsp: "/", rooms: ["room1"], ackDelay: 80 },
  { name: "c4", server: "s2", nsp: "/", rooms: ["room3", "réunion"], ackDelay: 120 },
  { name: "d1", server: "s2", nsp: "/", rooms: ["doomed1"], ackDelay: 160 },
  { name: "d2", server: "s2", nsp: "/", rooms: ["doomed2"], ackDelay: 200 },
  { name: "h1", server: "s1", nsp: "/chat", rooms: ["chatroom"], ackDelay: 0 },
  { name: "h2", server: "s2", nsp: "/chat", rooms: ["chatroom"], ackDelay: 40 },
  { name: "e1", server: "s3", nsp: "/", rooms: ["room1"], ackDelay: 0 },
  { name: "e2", server: "s4", nsp: "/", rooms: ["room1"], ackDelay: 40 },
];

const TOPOLOGY = {
  adapter: {
    clusters: [
      { name: "main", servers: ["s1", "s2"], namespaces: ["/", "/chat"], factory: "createAdapter", options: {} },
      { name: "custom", servers: ["s3", "s4"], namespaces: ["/"], factory: "createAdapter",
        options: { key: "custom-prefix", publishOnSpecificResponseChannel: true } },
    ],
    clients: CLIENTS_BASE,
  },
  emitter: {
    clusters: [
      { name: "main", servers: ["s1", "s2"], namespaces: ["/", "/chat"], factory: "createAdapter", options: {} },
      { name: "custom", servers: ["s3", "s4"], namespaces: ["/"], factory: "createAdapter", options: { key: "custom-prefix" } },
    ],
    clients: CLIENTS_BASE,
  },
  sharded: {
    clusters: [
      { name: "main", servers: ["s1", "s2"], namespaces: ["/", "/chat"], factory: "createShardedAdapter", options: {} },
      { name: "private", servers: ["s3", "s4"], namespaces: ["/"], factory: "createShardedAdapter",
        options: { channelPrefix: "custom-prefix", subscriptionMode: "dynamic-private" } },
      { name: "static", servers: ["s5", "s6"], namespaces: ["/"], factory: "createShardedAdapter",
        options: { channelPrefix: "static-prefix", subscriptionMode: "static" } },
    ],
    clients: [
      ...CLIENTS_BASE,
      { name: "f1", server: "s5", nsp: "/", rooms: ["room1"], ackDelay: 0 },
      { name: "f2", server: "s6", nsp: "/", rooms: ["room1"], ackDelay: 40 },
    ],
  },
};

const SERVER_EVENTS = ["hello-servers", "ping-servers", "chat-servers"];

// A fixed set of values exercising the MessagePack encoder (all int/str/bin/array/map widths,
// float64, nil, bool, Date -> timestamp ext, undefined handling, toJSON).
const VARIETY = () => [
  0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, 9007199254740991,
  -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649,
  0.5, -1.25, 1e300,
  "", "a".repeat(31), "b".repeat(32), "c".repeat(256), "é€😀",
  true, false, null,
  [], {}, Array.from({ length: 16 }, (_, i) => i),
  Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])),
  [1, undefined, 3], { a: undefined, b: 1, f: () => 1 },
  new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)),
  Buffer.alloc(0), Buffer.alloc(256, 7), new Uint8Array([1, 2]), new Uint8Array([3, 4]).buffer,
  { toJSON: () => ({ via: "toJSON" }) },
];

// ---------------------------------------------------------------------------------------------
// scenarios. Each `run` receives the context; its source text is recorded as `code`.

const sc = (name, description, run, extra = {}) => ({ name, description, run, ...extra });

const ackEmit = (op, ...args) =>
  new Promise((resolve) =>
    op.emit(...args, (err, responses) => resolve({ err: err ? err.message : null, responses })));

const COMMON_BROADCASTS = [
  sc("broadcast-all", "io.emit() from s1 to every client of the namespace",
    async ({ io }) => { io.s1.emit("hello", "world", 1, -2, 2.5, true, null, { a: [1, "x"] }); }),
  sc("broadcast-one-room", "exactly one target room: published on the room channel",
    async ({ io }) => { io.s1.to("room1").emit("room-msg", "to room1"); }),
  sc("broadcast-several-rooms", "two target rooms: published on the base channel",
    async ({ io }) => { io.s1.to(["room1", "room3"]).emit("rooms-msg", 1); }),
  sc("broadcast-except", "all but one room",
    async ({ io }) => { io.s1.except("room1").emit("except-msg", "not room1"); }),
  sc("broadcast-room-except-socket", "one room, except a socket id (of a remote socket)",
    async ({ io, sid }) => { io.s1.to("room1").except(sid("c3")).emit("room-except-msg", 2); }),
  sc("broadcast-to-socket-id", "the single target room is a socket id",
    async ({ io, sid }) => { io.s1.to(sid("c3")).emit("direct", "hi c3"); }),
  sc("broadcast-numeric-room", "a numeric room (42, joined as a number on s1), emitted from s2",
    async ({ io }) => { io.s2.to(42).emit("numeric-room", 42); }),
  sc("broadcast-unicode-room", "a room name outside ASCII (channel name in UTF-8)",
    async ({ io }) => { io.s1.to("réunion").emit("unicode-room", "é"); }),
  sc("broadcast-volatile", "volatile flag",
    async ({ io }) => { io.s1.volatile.emit("volatile-msg", 1); }),
  sc("broadcast-compress-false", "compress(false) flag",
    async ({ io }) => { io.s1.compress(false).emit("uncompressed", "x"); }),
  sc("broadcast-flags-combined", "one room with volatile and compress(false) (flag order follows the calls)",
    async ({ io }) => { io.s1.to("room1").volatile.compress(false).emit("flags-msg", 3); }),
  sc("broadcast-local", "local flag: nothing is published",
    async ({ io }) => { io.s1.local.emit("local-only", 1); }),
  sc("broadcast-binary", "binary arguments (Buffer, nested Buffer, ArrayBuffer) stay MessagePack bin",
    async ({ io }) => {
      io.s1.emit("binary", Buffer.from([1, 2, 3]),
        { nested: Buffer.from("abc"), arr: [new Uint8Array([255, 0]).buffer] });
    }),
  sc("broadcast-encoding-variety", "one argument of each MessagePack width/type notepack.io produces",
    async ({ io }) => { io.s1.emit("variety", ...VARIETY()); }),
  sc("broadcast-with-ack", "io.timeout(500).emit(ev, arg, callback): every client acknowledges",
    async ({ io }) => ackEmit(io.s1.timeout(500), "ack-me", "x")),
  sc("broadcast-emitWithAck-room", "await io.timeout(500).to(room).emitWithAck(ev, binary); the remote client echoes the binary",
    async ({ io }) => io.s1.timeout(500).to("room1").emitWithAck("ack-me", Buffer.from([0xde, 0xad, 0xbe, 0xef]))),
  sc("socket-broadcast", "socket.broadcast.emit() on s1 for c1 (except = [c1's id])",
    async ({ client }) => { client("c1").emit("relay", { room: null, event: "relayed", args: ["from c1"] }); }),
  sc("socket-to-room", "socket.to(room).emit() on s1 for c1",
    async ({ client }) => { client("c1").emit("relay", { room: "room3", event: "relayed", args: ["c1 to room3"] }); }),
];

const COMMON_REQUESTS = [
  sc("socketsJoin", "io.in(room).socketsJoin(room)",
    async ({ io }) => { io.s1.in("room1").socketsJoin("room4"); }, { state: "main" }),
  sc("socketsJoin-except-multi", "io.except(room).socketsJoin([two rooms])",
    async ({ io }) => { io.s1.except("room3").socketsJoin(["room5", "room6"]); }, { state: "main" }),
  sc("socketsLeave", "io.socketsLeave(room) (no target room: every socket)",
    async ({ io }) => { io.s1.socketsLeave("room4"); }, { state: "main" }),
  sc("socketsLeave-in-multi", "io.in(room).socketsLeave([two rooms])",
    async ({ io }) => { io.s1.in("room5").socketsLeave(["room5", "room6"]); }, { state: "main" }),
  sc("fetchSockets-all", "await io.fetchSockets()",
    async ({ io, summary }) => summary(await io.s1.fetchSockets())),
  sc("fetchSockets-room", "await io.in(room).fetchSockets()",
    async ({ io, summary }) => summary(await io.s1.in("room3").fetchSockets())),
  sc("remote-socket-ops", "fetchSockets() for one remote socket, then RemoteSocket emit / join / leave",
    async ({ io, sid, summary }) => {
      const [rs] = await io.s1.in(sid("c3")).fetchSockets();
      rs.emit("remote-direct", 1);
      await new Promise((r) => setTimeout(r, 50));
      rs.join("room7");
      await new Promise((r) => setTimeout(r, 50));
      rs.leave("room7");
      return summary([rs]);
    }, { state: "main" }),
  sc("serverSideEmit", "io.serverSideEmit(ev, ...args) without acknowledgement",
    async ({ io }) => { io.s1.serverSideEmit("hello-servers", 1, "two", { three: [3] }); }),
  sc("serverSideEmit-buffer", "serverSideEmit with a Buffer argument",
    async ({ io }) => { io.s1.serverSideEmit("hello-servers", Buffer.from([1, 2])); }),
  sc("serverSideEmit-ack", "io.serverSideEmit(ev, arg, callback)",
    async ({ io }) => new Promise((resolve) => io.s1.serverSideEmit("ping-servers", "p1",
      (err, responses) => resolve({ err: err ? err.message : null, responses })))),
  sc("serverSideEmitWithAck", "await io.serverSideEmitWithAck(ev, arg)",
    async ({ io }) => io.s1.serverSideEmitWithAck("ping-servers", "p2")),
  sc("serverCount", "await io.of('/').adapter.serverCount() (a PUBSUB command, nothing published)",
    async ({ io }) => io.s1.of("/").adapter.serverCount()),
  sc("allRooms", "await io.of('/').adapter.allRooms()",
    async ({ io }) => {
      const adapter = io.s1.of("/").adapter;
      if (typeof adapter.allRooms !== "function") return { unsupported: "adapter has no allRooms()" };
      return [...(await adapter.allRooms())];
    }),
  sc("chat-broadcast", "broadcast in namespace /chat",
    async ({ io }) => { io.s1.of("/chat").emit("chat-msg", "hi"); }),
  sc("chat-room", "one room in namespace /chat",
    async ({ io }) => { io.s1.of("/chat").to("chatroom").emit("chat-room-msg", "hi room"); }),
  sc("chat-fetchSockets", "fetchSockets in namespace /chat",
    async ({ io, summary }) => summary(await io.s1.of("/chat").fetchSockets())),
  sc("chat-serverSideEmit", "serverSideEmit in namespace /chat",
    async ({ io }) => { io.s1.of("/chat").serverSideEmit("chat-servers", 1); }),
];

const DISCONNECTS = [
  sc("disconnectSockets-false", "io.in(room).disconnectSockets(false)",
    async ({ io, waitDisconnect }) => {
      const done = waitDisconnect("d1");
      io.s1.in("doomed1").disconnectSockets(false);
      return done;
    }, { state: "main" }),
  sc("disconnectSockets-true", "io.in(room).disconnectSockets(true) (close the underlying connection)",
    async ({ io, waitDisconnect }) => {
      const done = waitDisconnect("d2");
      io.s1.in("doomed2").disconnectSockets(true);
      return done;
    }, { state: "main" }),
];

const SCENARIOS = {
  adapter: [
    ...COMMON_BROADCASTS,
    ...COMMON_REQUESTS,
    sc("custom-prefix-broadcast", "key 'custom-prefix' (s3/s4, publishOnSpecificResponseChannel: true)",
      async ({ io }) => { io.s3.emit("custom", 1); }),
    sc("custom-prefix-room", "key 'custom-prefix', one room",
      async ({ io }) => { io.s3.to("room1").emit("custom-room", 2); }),
    sc("custom-prefix-fetchSockets", "responses go to the requester's own response channel",
      async ({ io, summary }) => summary(await io.s3.fetchSockets())),
    sc("custom-prefix-allRooms", "allRooms with publishOnSpecificResponseChannel",
      async ({ io }) => [...(await io.s3.of("/").adapter.allRooms())]),
    sc("custom-prefix-serverSideEmitWithAck", "serverSideEmit responses always use the shared response channel",
      async ({ io }) => io.s3.serverSideEmitWithAck("ping-servers", "p3")),
    sc("custom-prefix-emitWithAck", "broadcast-ack responses with publishOnSpecificResponseChannel",
      async ({ io }) => io.s3.timeout(500).emitWithAck("ack-me", "y")),
    ...DISCONNECTS,
  ],
  emitter: [
    sc("emitter-emit", "emitter.emit(ev, ...args)",
      async ({ emitter }) => { emitter.emit("hello", "world", 1, -2, 2.5, true, null, { a: [1, "x"] }); }),
    sc("emitter-binary", "binary arguments",
      async ({ emitter }) => { emitter.emit("binary", Buffer.from([1, 2, 3]), { nested: Buffer.from("abc") }); }),
    sc("emitter-encoding-variety", "one argument of each MessagePack width/type notepack.io produces",
      async ({ emitter }) => { emitter.emit("variety", ...VARIETY()); }),
    sc("emitter-to-room", "emitter.to(room).emit()",
      async ({ emitter }) => { emitter.to("room1").emit("room-msg", "to room1"); }),
    sc("emitter-to-rooms", "emitter.to([two rooms]).emit()",
      async ({ emitter }) => { emitter.to(["room1", "room3"]).emit("rooms-msg", 1); }),
    sc("emitter-except", "emitter.except(room).emit()",
      async ({ emitter }) => { emitter.except("room1").emit("except-msg", "not room1"); }),
    sc("emitter-to-except-socket", "emitter.to(room).except(socket id).emit()",
      async ({ emitter, sid }) => { emitter.to("room1").except(sid("c3")).emit("room-except-msg", 2); }),
    sc("emitter-to-socket-id", "emitter.to(socket id).emit()",
      async ({ emitter, sid }) => { emitter.to(sid("c3")).emit("direct", "hi c3"); }),
    sc("emitter-numeric-room", "emitter.to(42).emit()",
      async ({ emitter }) => { emitter.to(42).emit("numeric-room", 42); }),
    sc("emitter-volatile", "emitter.volatile.emit()",
      async ({ emitter }) => { emitter.volatile.emit("volatile-msg", 1); }),
    sc("emitter-compress-false", "emitter.compress(false).emit()",
      async ({ emitter }) => { emitter.compress(false).emit("uncompressed", "x"); }),
    sc("emitter-flags-combined", "emitter.to(room).volatile.compress(false).emit()",
      async ({ emitter }) => { emitter.to("room1").volatile.compress(false).emit("flags-msg", 3); }),
    sc("emitter-of-chat", "emitter.of('/chat').emit()",
      async ({ emitter }) => { emitter.of("/chat").emit("chat-msg", "hi"); }),
    sc("emitter-of-chat-no-slash-room", "emitter.of('chat') (slash added).to(room).emit()",
      async ({ emitter }) => { emitter.of("chat").to("chatroom").emit("chat-room-msg", "hi room"); }),
    sc("emitter-socketsJoin", "emitter.socketsJoin(room)",
      async ({ emitter }) => { emitter.socketsJoin("room4"); }, { state: "main" }),
    sc("emitter-socketsJoin-in-except-multi", "emitter.in(room).except(room).socketsJoin([two rooms])",
      async ({ emitter }) => { emitter.in("room1").except("room3").socketsJoin(["room5", "room6"]); }, { state: "main" }),
    sc("emitter-socketsLeave", "emitter.socketsLeave(room)",
      async ({ emitter }) => { emitter.socketsLeave("room4"); }, { state: "main" }),
    sc("emitter-socketsLeave-in-multi", "emitter.in(room).socketsLeave([two rooms])",
      async ({ emitter }) => { emitter.in("room5").socketsLeave(["room5", "room6"]); }, { state: "main" }),
    sc("emitter-serverSideEmit", "emitter.serverSideEmit(ev, ...args)",
      async ({ emitter }) => { emitter.serverSideEmit("hello-servers", 1, { two: 2 }); }),
    sc("emitter-of-chat-serverSideEmit", "emitter.of('/chat').serverSideEmit()",
      async ({ emitter }) => { emitter.of("/chat").serverSideEmit("chat-servers", 1); }),
    sc("emitter-custom-key", "new Emitter(client, {key: 'custom-prefix'}): emit, to(room).emit",
      async ({ customEmitter }) => {
        customEmitter.emit("custom", 1);
        customEmitter.to("room1").emit("custom-room", 2);
      }),
    sc("emitter-disconnectSockets-default", "emitter.in(room).disconnectSockets() (close defaults to false)",
      async ({ emitter, waitDisconnect }) => {
        const done = waitDisconnect("d1");
        emitter.in("doomed1").disconnectSockets();
        return done;
      }, { state: "main" }),
    sc("emitter-disconnectSockets-true", "emitter.in(room).disconnectSockets(true)",
      async ({ emitter, waitDisconnect }) => {
        const done = waitDisconnect("d2");
        emitter.in("doomed2").disconnectSockets(true);
        return done;
      }, { state: "main" }),
  ],
  sharded: [
    ...COMMON_BROADCASTS,
    ...COMMON_REQUESTS,
    sc("private-room", "dynamic-private (s3/s4, prefix 'custom-prefix'): one room",
      async ({ io }) => { io.s3.to("room1").emit("custom-room", 2); }),
    sc("private-socket-id", "dynamic-private: a socket-id room gets its own channel too",
      async ({ io, sid }) => { io.s3.to(sid("e2")).emit("direct", "hi e2"); }),
    sc("private-socketsJoin", "dynamic-private: joining a new room subscribes to its channel",
      async ({ io }) => { io.s3.socketsJoin("room8"); }, { state: "private" }),
    sc("private-fetchSockets", "dynamic-private: fetchSockets",
      async ({ io, summary }) => summary(await io.s3.fetchSockets())),
    sc("private-emitWithAck", "dynamic-private: acked broadcast to one room uses the main channel",
      async ({ io }) => io.s3.timeout(500).to("room1").emitWithAck("ack-me", "y")),
    sc("static-room", "static mode (s5/s6, prefix 'static-prefix'): one room, main channel",
      async ({ io }) => { io.s5.to("room1").emit("static-room", 3); }),
    sc("static-socketsJoin", "static mode: no subscription change",
      async ({ io }) => { io.s5.socketsJoin("room8"); }, { state: "static" }),
    ...DISCONNECTS,
  ],
};

// ---------------------------------------------------------------------------------------------
// main

async function main() {
  const out = {
    fixture: null,
    generator: {
      script: "tests/cluster/node/capture.mjs",
      mode: MODE,
      command: null,
      capture_method: null,
    },
    versions: versions(),
    redis_server: null,
    topology: null,
    random: {},
    random_kinds: null,
    setup: null,
    scenarios: [],
  };

  out.random_kinds = {
    "<uid:S:N>": MODE === "sharded"
      ? "adapter uid of server S for namespace N: 16 hex chars (crypto.randomBytes(8)) — ClusterAdapter"
      : "adapter uid of server S for namespace N: uid2(6), 6 chars of [A-Za-z0-9_-]",
    "<sid:C>": "socket id of client C (base64id: 20 chars of [A-Za-z0-9_-], ending in a counter)",
    "<req:K>": MODE === "sharded"
      ? "request id, numbered by first appearance: 16 hex chars"
      : "request id, numbered by first appearance: uid2(6), 6 chars of [A-Za-z0-9_-]",
    "<time:C>": "handshake.time of client C (new Date().toString(), local time zone)",
    "<issued:C>": "handshake.issued of client C (epoch ms, a JSON number on the wire)",
    "<wskey:C>": "handshake.headers['sec-websocket-key'] of client C",
    "<host:S>": "handshake.headers.host for clients of server S (ephemeral port)",
  };

  const activity = { last: Date.now() };
  const bump = () => { activity.last = Date.now(); };

  // capture connections
  const ctl = createClient({ url: REDIS_URL, name: "capture-ctl" });
  ctl.on("error", (e) => log("ctl error", e.message));
  await ctl.connect();
  const info = await ctl.info("server");
  const redisVersion = /redis_version:([^\r\n]+)/.exec(info)[1];
  out.redis_server = { version: redisVersion, mode: /redis_mode:([^\r\n]+)/.exec(info)[1] };
  const major = Number(redisVersion.split(".")[0]);

  const fixtureNames = { adapter: "node-adapter-8.3", emitter: "node-emitter-5.1", sharded: "node-sharded-8.3" };
  out.fixture = fixtureNames[MODE];
  out.generator.command = `cd tests/cluster/node && npm ci && node capture.mjs redis://127.0.0.1:PORT ${MODE} > ../fixtures/${out.fixture}.json`;

  if (MODE === "sharded" && major < 7) {
    out.skipped = `Redis server ${redisVersion} < 7: no sharded pub/sub (SSUBSCRIBE/SPUBLISH)`;
    await ctl.disconnect();
    return out;
  }

  // make sure nobody else uses the channels: NUMSUB/SHARDNUMSUB must be 0 before we start
  for (const ch of ["socket.io-request#/#", "custom-prefix-request#/#"]) {
    const [, n] = await ctl.sendCommand(["PUBSUB", "NUMSUB", ch]);
    if (Number(n) !== 0) throw new Error(`channel ${ch} already has ${n} subscribers: use a dedicated Redis server`);
  }

  const monitorEvents = [];
  const monitor = await openMonitor(REDIS_URL, (cmd) => { monitorEvents.push(cmd); bump(); });

  const psubEvents = [];
  const psub = createClient({ url: REDIS_URL, name: "capture-psub" });
  psub.on("error", (e) => log("psub error", e.message));
  await psub.connect();
  await psub.pSubscribe("*", (message, channel) => { psubEvents.push({ channel, message }); bump(); }, true);

  const usePsub = MODE !== "sharded";
  out.generator.capture_method = usePsub
    ? "PSUBSCRIBE * (exact payload bytes), cross-checked message by message against MONITOR (publisher connection)"
    : "MONITOR (SPUBLISH arguments, unescaped byte-exact; SSUBSCRIBE would change SHARDNUMSUB, i.e. serverCount())";

  // ---- servers
  const topo = TOPOLOGY[MODE];
  out.topology = {
    clusters: topo.clusters.map(({ name, servers, namespaces, factory, options }) => ({ name, servers, namespaces, factory, options })),
    clients: topo.clients.map(({ name, server, nsp, rooms, ackDelay }) => ({ name, server, nsp, rooms, ack_delay_ms: ackDelay })),
    client_options: { transports: ["websocket"], reconnection: false, forceNew: true, auth: { name: "<client name>" } },
    server_behaviour: {
      connection: "socket.data = {name: auth.name}; socket.join(rooms of that client)",
      relay: "socket.on('relay', ({room, event, args}) => (room ? socket.to(room) : socket.broadcast).emit(event, ...args))",
      server_events: `${SERVER_EVENTS.join(", ")}: recorded; if acked, answered with {from: <server>, got: [args]}`,
      client_ack_me: "clients answer 'ack-me' after ack_delay_ms with {from: <client>, got: <first arg>}",
    },
  };

  const io = {};
  const serverOf = {};
  const redisClients = [];
  const deliveries = [];
  const record = (who, event, args, extra = {}) => {
    deliveries.push({ to: who, event, args: tag(args.filter((a) => typeof a !== "function")), ...extra,
      ...(typeof args[args.length - 1] === "function" ? { with_ack: true } : {}) });
    bump();
  };

  for (const cluster of topo.clusters) {
    for (const sname of cluster.servers) {
      const pub = createClient({ url: REDIS_URL, name: `${sname}-pub` });
      const sub = createClient({ url: REDIS_URL, name: `${sname}-sub` });
      for (const c of [pub, sub]) c.on("error", (e) => log(`${sname} redis error`, e.message));
      await Promise.all([pub.connect(), sub.connect()]);
      redisClients.push(pub, sub);
      const factory = cluster.factory === "createAdapter" ? createAdapter : createShardedAdapter;
      const httpServer = http.createServer();
      const server = new Server(httpServer, { adapter: factory(pub, sub, { ...cluster.options }) });
      await new Promise((r) => httpServer.listen(0, "127.0.0.1", r));
      server._captureHttp = httpServer;
      io[sname] = server;
      serverOf[sname] = { cluster: cluster.name, port: httpServer.address().port };
      for (const nspName of cluster.namespaces) {
        const nsp = server.of(nspName);
        for (const ev of SERVER_EVENTS) {
          nsp.on(ev, (...args) => {
            const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
            record(sname, ev, args, { nsp: nspName, kind: "serverSideEmit", ...(cb ? { with_ack: true } : {}) });
            if (cb) cb({ from: sname, got: args });
          });
        }
        nsp.on("connection", (socket) => {
          const spec = topo.clients.find((c) => c.name === socket.handshake.auth.name);
          socket.data = { name: spec.name };
          socket.join(spec.rooms);
          socket.on("relay", ({ room, event, args }) => (room ? socket.to(room) : socket.broadcast).emit(event, ...args));
        });
        out.random[`<uid:${sname}:${nspName}>`] = nsp.adapter.uid;
      }
      // wait until this server's adapters are subscribed (counted by (SHARD)NUMSUB)
      for (const nspName of cluster.namespaces) {
        const ch = cluster.factory === "createAdapter"
          ? `${cluster.options.key || "socket.io"}-request#${nspName}#`
          : `${cluster.options.channelPrefix || "socket.io"}#${nspName}#`;
        const cmd = cluster.factory === "createAdapter" ? "NUMSUB" : "SHARDNUMSUB";
        const want = cluster.servers.indexOf(sname) + 1;
        for (let i = 0; ; i++) {
          const [, n] = await ctl.sendCommand(["PUBSUB", cmd, ch]);
          if (Number(n) >= want) break;
          if (i > 200) throw new Error(`adapter of ${sname} did not subscribe to ${ch}`);
          await sleep(10);
        }
      }
    }
  }

  // ---- clients, connected one after the other (room insertion order is then deterministic)
  const clients = {};
  const serverSockets = {};
  for (const spec of topo.clients) {
    const port = serverOf[spec.server].port;
    const socket = ioc(`http://127.0.0.1:${port}${spec.nsp === "/" ? "" : spec.nsp}`, {
      transports: ["websocket"], reconnection: false, forceNew: true, auth: { name: spec.name },
    });
    socket.onAny((ev, ...args) => record(spec.name, ev, args));
    socket.on("ack-me", (...args) => {
      const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
      if (cb) setTimeout(() => cb({ from: spec.name, got: args[0] === undefined ? null : args[0] }), spec.ackDelay);
    });
    socket.on("disconnect", (reason) => record(spec.name, "disconnect", [reason], { kind: "client-event" }));
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    clients[spec.name] = socket;
    const ss = io[spec.server].of(spec.nsp).sockets.get(socket.id);
    serverSockets[spec.name] = ss;
    out.random[`<sid:${spec.name}>`] = socket.id;
    out.random[`<time:${spec.name}>`] = ss.handshake.time;
    out.random[`<issued:${spec.name}>`] = String(ss.handshake.issued);
    out.random[`<wskey:${spec.name}>`] = ss.handshake.headers["sec-websocket-key"];
  }
  for (const [sname, { port }] of Object.entries(serverOf)) out.random[`<host:${sname}>`] = `127.0.0.1:${port}`;

  // connection labels for MONITOR addresses
  const addrLabel = {};
  const list = await ctl.sendCommand(["CLIENT", "LIST"]);
  for (const line of list.split("\n")) {
    const addr = /\baddr=(\S+)/.exec(line);
    const name = /\bname=(\S*)/.exec(line);
    if (addr) addrLabel[addr[1]] = name && name[1] ? name[1] : "unnamed";
  }

  // ---- emitter (its own connection)
  let emitter = null;
  let customEmitter = null;
  if (MODE === "emitter") {
    const ec = createClient({ url: REDIS_URL, name: "emitter" });
    ec.on("error", (e) => log("emitter redis error", e.message));
    await ec.connect();
    redisClients.push(ec);
    const list2 = await ctl.sendCommand(["CLIENT", "LIST"]);
    for (const line of list2.split("\n")) {
      const addr = /\baddr=(\S+)/.exec(line);
      const name = /\bname=(\S*)/.exec(line);
      if (addr) addrLabel[addr[1]] = name && name[1] ? name[1] : "unnamed";
    }
    emitter = new Emitter(ec);
    customEmitter = new Emitter(ec, { key: "custom-prefix" });
  }
  const labelOf = (addr) => addrLabel[addr] || "unknown";

  // ---- capture helpers
  const isCaptureConn = (label) => label.startsWith("capture-");
  let psubCursor = 0;
  let monCursor = 0;
  let markerSeq = 0;
  const reqIds = new Map();

  async function settle() {
    const start = Date.now();
    while (Date.now() - activity.last < QUIET_MS) {
      if (Date.now() - start > MAX_SETTLE_MS) throw new Error("no quiescence");
      await sleep(10);
    }
  }

  const PUBSUB_COMMANDS = new Set(["SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SSUBSCRIBE",
    "SUNSUBSCRIBE", "PUBSUB"]);

  function findRequestIds(v) {
    if (!v || typeof v !== "object") return;
    if (Array.isArray(v)) return v.forEach(findRequestIds);
    for (const [k, x] of Object.entries(v)) {
      if (k === "requestId" && typeof x === "string" && !reqIds.has(x)) {
        reqIds.set(x, `<req:${reqIds.size + 1}>`);
        out.random[reqIds.get(x)] = x;
      }
      findRequestIds(x);
    }
  }

  function randomsIn(channel, payload) {
    const hay = channel + "\u0000" + payload.toString("latin1");
    const found = Object.entries(out.random)
      .filter(([, v]) => v && hay.includes(Buffer.from(v, "utf8").toString("latin1"))).map(([k]) => k);
    // handshake values of a client only count where that client's socket is described (several
    // clients connected within the same second share the same handshake.time)
    return found.filter((k) => {
      const m = /^<(time|issued|wskey):(.+)>$/.exec(k);
      return !m || found.includes(`<sid:${m[2]}>`);
    });
  }

  // ends the current section: returns {messages, commands}
  async function cut(label) {
    await settle();
    const id = `${++markerSeq}:${label}`;
    await ctl.publish(MARKER_CHANNEL, id);
    const start = Date.now();
    const monIdx = () => monitorEvents.findIndex((c, i) => i >= monCursor && c.args.length === 3
      && c.args[0].toString().toUpperCase() === "PUBLISH" && c.args[1].toString() === MARKER_CHANNEL
      && c.args[2].toString() === id);
    const psIdx = () => psubEvents.findIndex((e, i) => i >= psubCursor && e.channel.toString() === MARKER_CHANNEL
      && e.message.toString() === id);
    let mi, pi;
    while ((mi = monIdx()) < 0 || (pi = psIdx()) < 0) {
      if (Date.now() - start > 2000) throw new Error(`marker ${id} not seen`);
      await sleep(5);
    }
    const mon = monitorEvents.slice(monCursor, mi);
    const ps = psubEvents.slice(psubCursor, pi);
    monCursor = mi + 1;
    psubCursor = pi + 1;

    const monPublishes = [];
    const commands = [];
    for (const c of mon) {
      const conn = labelOf(c.addr);
      if (isCaptureConn(conn)) continue;
      const name = c.args[0].toString().toUpperCase();
      if ((name === "PUBLISH" || name === "SPUBLISH") && c.args.length === 3) {
        monPublishes.push({ command: name, publisher: conn, channel: c.args[1], payload: c.args[2] });
      } else if (PUBSUB_COMMANDS.has(name)) {
        commands.push({ conn, args: c.args.map((a) => a.toString("utf8")) });
      }
    }
    const psubMsgs = ps.filter((e) => e.channel.toString() !== MARKER_CHANNEL);

    let raw;
    if (usePsub) {
      const monPub = monPublishes.filter((m) => m.command === "PUBLISH");
      if (monPub.length !== psubMsgs.length) {
        throw new Error(`${label}: MONITOR saw ${monPub.length} PUBLISH, PSUBSCRIBE got ${psubMsgs.length}`);
      }
      raw = psubMsgs.map((e, i) => {
        const m = monPub[i];
        if (!m.channel.equals(e.channel) || !m.payload.equals(e.message)) {
          throw new Error(`${label}: message ${i} differs between MONITOR and PSUBSCRIBE`);
        }
        return { command: "PUBLISH", publisher: m.publisher, channel: e.channel, payload: e.message };
      });
      raw.push(...monPublishes.filter((m) => m.command !== "PUBLISH"));
    } else {
      if (psubMsgs.length) throw new Error(`${label}: unexpected classic PUBLISH in sharded mode`);
      raw = monPublishes;
    }

    const messages = raw.map((m, index) => {
      const { encoding, decoded } = decodePayload(m.payload);
      findRequestIds(decoded);
      return {
        index,
        command: m.command,
        publisher: m.publisher,
        channel: m.channel.toString("utf8"),
        encoding,
        payload_b64: m.payload.toString("base64"),
        ...(encoding === "json" ? { payload_utf8: m.payload.toString("utf8") } : {}),
        decoded,
      };
    });
    for (const [i, m] of messages.entries()) m.random = randomsIn(m.channel, raw[i].payload);
    // commands of different connections may interleave differently from run to run: group them
    const order = [...new Set(commands.map((c) => c.conn))].sort();
    const grouped = order.flatMap((conn) => commands.filter((c) => c.conn === conn));
    return { messages, commands: grouped };
  }

  function stateOf(clusterName) {
    const cluster = topo.clusters.find((c) => c.name === clusterName);
    const st = {};
    for (const sname of cluster.servers) {
      for (const nspName of cluster.namespaces) {
        for (const s of io[sname].of(nspName).sockets.values()) {
          st[s.data.name] = [...s.rooms];
        }
      }
    }
    return Object.fromEntries(Object.entries(st).sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  const ctx = {
    io,
    sid: (name) => out.random[`<sid:${name}>`],
    client: (name) => clients[name],
    emitter,
    customEmitter,
    summary: (sockets) => sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data })),
    waitDisconnect: (name) => new Promise((resolve) => {
      if (!clients[name].connected) return resolve({ already: true });
      clients[name].once("disconnect", (reason) => resolve({ client: name, reason }));
    }),
  };

  const setup = await cut("setup");
  deliveries.length = 0;
  out.setup = {
    description: "server start (adapters subscribe) and client connections, before the first scenario",
    connections: Object.fromEntries(Object.entries(serverOf).map(([s, v]) => [s, { cluster: v.cluster }])),
    messages: setup.messages,
    commands: setup.commands,
  };

  for (const s of SCENARIOS[MODE]) {
    log(`scenario ${s.name}`);
    let result;
    try {
      result = await s.run(ctx);
    } catch (e) {
      result = { error: e.message, responses: e.responses };
    }
    const { messages, commands } = await cut(s.name);
    const got = deliveries.splice(0);
    const byWho = [...new Set(got.map((d) => d.to))].sort();
    out.scenarios.push({
      name: s.name,
      description: s.description,
      code: s.run.toString(),
      messages,
      commands,
      result: result === undefined ? null : tag(result),
      deliveries: byWho.flatMap((w) => got.filter((d) => d.to === w)),
      ...(s.state ? { state_after: tag(stateOf(s.state)) } : {}),
    });
  }

  // ---- teardown (not recorded)
  for (const c of Object.values(clients)) c.disconnect();
  for (const server of Object.values(io)) {
    await new Promise((r) => server.close(() => r()));
  }
  await sleep(50);
  for (const c of redisClients) { try { await c.disconnect(); } catch {} }
  await psub.disconnect();
  await ctl.disconnect();
  monitor.destroy();

  return out;
}

main().then(
  (out) => {
    process.stdout.write(JSON.stringify(out, null, 2) + "\n", () => process.exit(0));
  },
  (err) => {
    log(`capture failed: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  },
);
