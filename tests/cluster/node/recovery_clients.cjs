#!/usr/bin/env node
// socket.io-client 4.8 clients that drop their connection and come back, maybe to another
// server, for the recovery tests across a cluster (../test_streams_recovery.py), driven by
// JSON lines (the framing of ../HARNESS.md).
//
// Each client is io(url, {transports: ["websocket"], reconnection: false, forceNew: true,
// auth}). Commands: connect {name, url, auth} -> {sid, recovered}; drop {name}: its WebSocket
// terminated (no close frame, no Engine.IO close: a network drop); reconnect {name, url}: the
// same socket connects again, to url (its Manager's uri changed, as a load balancer would send
// it elsewhere), with its pid and last offset -> {sid, recovered}; received {name}: the events
// it got, [{event, args}]; quit. Events: {"event": "received", client, name, args},
// {"event": "client_disconnect", client, reason}.

"use strict";

const process = require("node:process");
const { io } = require("socket.io-client");

const CONNECT_TIMEOUT_MS = 5000;
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const event = (name, fields = {}) => out({ event: name, ...fields });
console.log = console.info = console.debug = (...a) => process.stderr.write(`[console] ${a.join(" ")}\n`);
process.on("uncaughtException", (e) => event("error", { message: `uncaught: ${e && e.stack ? e.stack : e}` }));
process.on("unhandledRejection", (e) => event("error", { message: `unhandled: ${e && e.stack ? e.stack : e}` }));

const clients = new Map(); // name -> {socket, received}

function clientOf(name) {
  const client = clients.get(name);
  if (!client) throw new Error(`no client ${JSON.stringify(name)}`);
  return client;
}

function connected(socket, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not connected within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve({ sid: socket.id, recovered: socket.recovered === true });
    });
    socket.once("connect_error", (e) => {
      clearTimeout(timer);
      reject(new Error(`connect_error: ${e.message}`));
    });
  });
}

const COMMANDS = {
  async connect(c) {
    const socket = io(c.url, {
      transports: ["websocket"], reconnection: false, forceNew: true, timeout: CONNECT_TIMEOUT_MS, auth: c.auth || {},
    });
    const client = { socket, received: [] };
    clients.set(c.name, client);
    socket.onAny((name, ...args) => {
      client.received.push({ event: name, args });
      event("received", { client: c.name, name, args });
    });
    socket.on("disconnect", (reason) => event("client_disconnect", { client: c.name, reason }));
    return await connected(socket, `connecting ${c.name}`);
  },
  async drop(c) {
    const transport = clientOf(c.name).socket.io.engine?.transport;
    if (transport?.name !== "websocket") throw new Error(`client ${c.name} is not on a WebSocket`);
    transport.ws.terminate();
    return null;
  },
  async reconnect(c) {
    const { socket } = clientOf(c.name);
    socket.io.uri = c.url;
    const waiting = connected(socket, `reconnecting ${c.name}`);
    socket.connect();
    return await waiting;
  },
  async received(c) {
    return clientOf(c.name).received;
  },
};

let quitting = false;
function quit(reply) {
  if (quitting) return;
  quitting = true;
  for (const { socket } of clients.values()) socket.disconnect();
  if (reply) reply();
  setTimeout(() => process.exit(0), 50).unref();
}

async function handle(line) {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    return event("error", { message: `unreadable line ${line}` });
  }
  if (cmd.op === "quit") return quit(() => out({ id: cmd.id, result: null }));
  const fn = Object.hasOwn(COMMANDS, cmd.op) ? COMMANDS[cmd.op] : null;
  if (!fn) return out({ id: cmd.id, error: `unknown op ${JSON.stringify(cmd.op)}` });
  try {
    out({ id: cmd.id, result: (await fn(cmd)) ?? null });
  } catch (e) {
    out({ id: cmd.id, error: e && e.message ? e.message : String(e) });
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
process.stdin.on("end", () => quit(null));
process.on("SIGTERM", () => quit(null));
event("ready", { pid: process.pid });
