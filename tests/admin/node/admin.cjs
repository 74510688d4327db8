// Admin UI clients for tests/admin: the official JavaScript client (socket.io-client, pinned in
// package.json) connecting to the admin namespace the way the Admin UI does (its App.vue's
// tryConnect: forceNew, no reconnection, withCredentials, the auth it sends), driven over
// stdin/stdout with the command protocol of tests/interop/node/client.cjs, so that the Python
// side reuses tests/interop's NodeHost/NodeClient. And a bcrypt hash made as a Node user makes
// one for @socket.io/admin-ui (with its own bcryptjs).
//
// stdin: one JSON command per line. stdout: one JSON line per thing observed, and one
// {"type": "done"} per command once it has been carried out; every line names its "client".
// Binary values cross the pipe as {"$bytes": "<base64>"}.
//
// Commands ({"op", "id", "client", ...}):
//   connect  {"url", "transports", "namespaces": [the admin namespace], "auth", "options"}
//   emit     {"nsp", "event", "args"}         an action of the UI ("join", "leave", ...)
//   call     {"nsp", "event", "args", "timeout"} -> {"type": "ack", "id", "args" | "error"}
//   close    the admin disconnects
//   hash     {"password"}                     -> {"type": "hash", "hash"} (bcryptjs, 10 rounds)
// Observations: {"type": "connect", "nsp", "sid"}, {"type": "connect_error", "nsp", "message"},
//   {"type": "disconnect", "nsp", "reason"}, {"type": "event", "nsp", "event", "args"},
//   {"type": "fatal", "id", "message"}
"use strict";

const { createInterface } = require("node:readline");
const { io } = require("socket.io-client");
const bcrypt = require("bcryptjs"); // @socket.io/admin-ui's own dependency

const WATCHDOG_MS = 120_000;
setTimeout(() => {
  process.stderr.write("admin.cjs: watchdog expired\n");
  process.exit(3);
}, WATCHDOG_MS).unref();

const out = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

function toWire(value) {
  if (Buffer.isBuffer(value)) return { $bytes: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $bytes: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(toWire);
  if (value === undefined) return null;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
}

const sockets = new Map(); // client name -> Socket

function connect(name, command) {
  const emit = (message) => out({ client: name, ...message });
  const [nsp] = command.namespaces;
  // What the UI does (App.vue, tryConnect), but for the URL's origin: the tests' server.
  const socket = io(command.url + nsp, {
    forceNew: true,
    reconnection: false,
    withCredentials: true,
    transports: command.transports,
    path: "/socket.io",
    auth: command.auth ?? {},
    ...(command.options ?? {}),
  });
  socket.on("connect", () => emit({ type: "connect", nsp, sid: socket.id }));
  socket.on("connect_error", (error) =>
    emit({ type: "connect_error", nsp, message: error.message }),
  );
  socket.on("disconnect", (reason) => emit({ type: "disconnect", nsp, reason }));
  socket.onAny((event, ...args) => emit({ type: "event", nsp, event, args: toWire(args) }));
  sockets.set(name, socket);
}

function run(command) {
  const name = command.client;
  switch (command.op) {
    case "connect":
      connect(name, command);
      break;
    case "emit":
      sockets.get(name).emit(command.event, ...command.args);
      break;
    case "call":
      sockets
        .get(name)
        .timeout(command.timeout * 1000)
        .emit(command.event, ...command.args, (error, ...args) =>
          out(
            error
              ? { client: name, type: "ack", id: command.id, error: error.message }
              : { client: name, type: "ack", id: command.id, args: toWire(args) },
          ),
        );
      break;
    case "close":
      sockets.get(name)?.disconnect();
      sockets.delete(name);
      break;
    case "hash":
      out({ client: name, type: "hash", hash: bcrypt.hashSync(command.password, 10) });
      break;
    default:
      throw new Error(`unknown op ${command.op}`);
  }
  out({ client: name, type: "done", id: command.id });
}

const input = createInterface({ input: process.stdin });
input.on("line", (line) => {
  let command = null;
  try {
    command = JSON.parse(line);
    run(command);
  } catch (error) {
    out({
      client: command?.client ?? null,
      type: "fatal",
      id: command?.id ?? null,
      message: String(error?.stack ?? error),
    });
  }
});
input.on("close", () => {
  for (const socket of sockets.values()) socket.disconnect();
  sockets.clear();
  setTimeout(() => {
    process.stderr.write(
      `admin.cjs: alive 3 s after stdin closed: ${JSON.stringify(process.getActiveResourcesInfo())}\n`,
    );
    process.exit(0);
  }, 3000).unref();
});
