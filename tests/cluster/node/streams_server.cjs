#!/usr/bin/env node
// A socket.io server with @socket.io/redis-streams-adapter 0.3 and connection state recovery,
// for the recovery tests across a cluster (../test_streams_recovery.py), driven by JSON lines
// (the framing of ../HARNESS.md). Its twin in Python is ../_streams_server.py.
//
//   node streams_server.cjs --redis URL --window SECONDS
//
// A client's auth is {name, rooms}: a new session sets socket.data = {name} and joins rooms;
// a recovered one keeps what it had. Events: {"event": "ready", port};
// {"event": "connection", sid, recovered, rooms (sorted, without the id room), in_own_room,
// data}; {"event": "disconnect", sid, reason}. Commands: broadcast {rooms, event, args,
// volatile} (io.to(rooms).emit, everyone when rooms is empty; replies once the XADD is
// answered), broadcast_with_ack {rooms, event, args, timeout_ms} ({responses, error}), quit.

"use strict";

const http = require("node:http");
const process = require("node:process");
const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-streams-adapter");

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const event = (name, fields = {}) => out({ event: name, ...fields });
console.log = console.info = console.debug = (...a) => process.stderr.write(`[console] ${a.join(" ")}\n`);
process.on("uncaughtException", (e) => event("error", { message: `uncaught: ${e && e.stack ? e.stack : e}` }));
process.on("unhandledRejection", (e) => event("error", { message: `unhandled: ${e && e.stack ? e.stack : e}` }));

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function main() {
  const redis = createClient({ url: option("redis") });
  redis.on("error", (e) => event("error", { message: `redis: ${e.message}` }));
  await redis.connect();
  const window = Number(option("window", "2"));
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    adapter: createAdapter(redis, { blockTimeInMs: 1000 }),
    connectionStateRecovery: { maxDisconnectionDuration: window * 1000, skipMiddlewares: true },
  });
  io.on("connection", (socket) => {
    const auth = socket.handshake.auth || {};
    if (!socket.recovered) {
      socket.data = { name: auth.name ?? null };
      socket.join(Array.isArray(auth.rooms) ? auth.rooms : []);
    }
    event("connection", {
      sid: socket.id,
      recovered: socket.recovered === true,
      rooms: [...socket.rooms].filter((room) => room !== socket.id).sort(),
      in_own_room: socket.rooms.has(socket.id),
      data: socket.data,
    });
    socket.on("disconnect", (reason) => event("disconnect", { sid: socket.id, reason }));
  });
  const COMMANDS = {
    async broadcast(c) {
      let operator = io;
      if (c.volatile) operator = operator.volatile;
      if (c.rooms && c.rooms.length) operator = operator.to(c.rooms);
      operator.emit(c.event, ...(c.args || []));
      // The adapter XADDs, then delivers here: a round trip on its connection comes after.
      await redis.ping();
      return null;
    },
    async broadcast_with_ack(c) {
      let operator = io;
      if (c.rooms && c.rooms.length) operator = operator.to(c.rooms);
      try {
        const responses = await operator.timeout(c.timeout_ms ?? 1000).emitWithAck(c.event, ...(c.args || []));
        return { responses, error: null };
      } catch (e) {
        return { responses: e.responses ?? null, error: e.message };
      }
    },
  };
  let quitting = false;
  function quit(reply) {
    if (quitting) return;
    quitting = true;
    if (reply) reply();
    io.close();
    setTimeout(() => process.exit(0), 100).unref();
    setTimeout(() => process.exit(0), 2000).unref();
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
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  // The adapter reads the stream from "$" on its first XREAD, issued once its reading
  // connection is up: a moment, so that it sees what the test adds next.
  await new Promise((resolve) => setTimeout(resolve, 300));
  event("ready", { port: httpServer.address().port });
}

main().catch((e) => {
  event("error", { message: String(e && e.stack ? e.stack : e) });
  process.exit(1);
});
