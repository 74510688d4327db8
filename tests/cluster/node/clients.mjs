#!/usr/bin/env node
// Many socket.io-client clients in one process, driven by JSON lines on stdin/stdout.
//
//   node clients.mjs
//
// Each client has its own connection (WebSocket only, no reconnection), records every event it
// receives and answers acknowledgement requests with {"from": <its name>}. The protocol is
// specified in ../HARNESS.md; tests/cluster/_harness.py drives it.

import process from "node:process";
import { io as ioc } from "socket.io-client";

const CONNECT_TIMEOUT_MS = 5000;
const COMMAND_GUARD_MS = 20000;
const SHUTDOWN_MS = 2000;

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

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// name -> {socket, received: [{seq, event, args, with_ack}], spec}
const clients = new Map();
let seq = 0;

function clientOf(c) {
  const client = clients.get(c.name);
  if (!client) throw new Error(`no client ${JSON.stringify(c.name)}`);
  return client;
}
const list = (v) => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);

const COMMANDS = {
  async connect(c) {
    const name = c.name;
    if (typeof name !== "string" || !name) throw new Error("connect needs a name");
    if (clients.has(name) && clients.get(name).socket.connected) throw new Error(`client ${name} is connected`);
    const nsp = c.nsp ?? "/";
    const base = String(c.url).replace(/\/+$/, "");
    const auth = { name, ...(c.auth || {}) };
    const ackDelay = Number(c.ack_delay_ms ?? 0);
    const silent = Boolean(c.silent);
    const socket = ioc(nsp === "/" ? base : `${base}${nsp}`, {
      transports: ["websocket"], reconnection: false, forceNew: true, timeout: CONNECT_TIMEOUT_MS, auth,
    });
    const client = { socket, received: [], nsp };
    clients.set(name, client);
    socket.onAny((ev, ...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      const entry = { seq: ++seq, event: ev, args, with_ack: ack !== null };
      client.received.push(entry);
      out({ event: "received", client: name, seq: entry.seq, name: ev, args, with_ack: entry.with_ack });
      if (ack && !silent) {
        if (ackDelay > 0) setTimeout(() => ack({ from: name }), ackDelay);
        else ack({ from: name });
      }
    });
    socket.on("disconnect", (reason) => event("client_disconnect", { client: name, nsp, reason }));
    try {
      await withTimeout(new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", (e) => reject(new Error(`connect_error: ${e.message}`)));
      }), CONNECT_TIMEOUT_MS + 500, `connecting ${name} to ${base}${nsp}`);
    } catch (e) {
      socket.disconnect();
      clients.delete(name);
      throw e;
    }
    return { sid: socket.id };
  },
  async received(c) {
    return clientOf(c).received;
  },
  async received_all() {
    const result = {};
    for (const [name, client] of clients) result[name] = client.received;
    return result;
  },
  async clear(c) {
    if (c.name !== undefined && c.name !== null) clientOf(c).received = [];
    else for (const client of clients.values()) client.received = [];
    return null;
  },
  async emit(c) {
    const { socket } = clientOf(c);
    const args = list(c.args);
    if (!c.ack) {
      socket.emit(c.event, ...args);
      return null;
    }
    const timeout = c.timeout_ms ?? 2000;
    return await new Promise((resolve, reject) => {
      socket.timeout(timeout).emit(c.event, ...args, (err, ...response) => {
        if (err) reject(new Error(`no acknowledgement of ${JSON.stringify(c.event)} within ${timeout} ms`));
        else resolve(response);
      });
    });
  },
  async disconnect(c) {
    clientOf(c).socket.disconnect();
    return null;
  },
  async status() {
    const result = {};
    for (const [name, { socket, nsp }] of clients) result[name] = { connected: socket.connected, sid: socket.id ?? null, nsp };
    return result;
  },
};

let shuttingDown = false;
function shutdown(reply) {
  if (shuttingDown) return;
  shuttingDown = true;
  for (const { socket } of clients.values()) socket.disconnect();
  if (reply) reply();
  // give the close frames a moment, then go
  setTimeout(() => process.exit(0), 50).unref();
  setTimeout(() => process.exit(0), SHUTDOWN_MS).unref();
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
process.stdin.on("end", () => shutdown(null));
process.on("SIGTERM", () => shutdown(null));
event("ready", { pid: process.pid });
