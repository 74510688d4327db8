// Clients of the official JavaScript Socket.IO client, driven by tests/interop/_interop_clients.py.
// One process serves every JavaScript client of a test (starting node is the slow part); each
// client has its own Manager, i.e. its own Engine.IO connection, and one or more namespaces.
//
// stdin: one JSON command per line. stdout: one JSON line per thing observed, and one
// {"type": "done"} per command once it has been carried out; every line names its "client".
// Binary values cross the pipe as {"$bytes": "<base64>"}. When stdin closes, every client
// disconnects and the process ends by itself (a watchdog ends it anyway after WATCHDOG_MS).
//
// Commands ({"op", "id", "client", ...}):
//   connect     {"url", "transports", "namespaces", "auth", "replies", "options"}
//               replies: {"<nsp>": {"<event>": [ack args] | null}}: how to answer server
//               events that ask for an acknowledgement (null or absent: never answer).
//               options (optional): more options of the Manager (path, query, extraHeaders...).
//   emit        {"nsp", "event", "args"}
//   call        {"nsp", "event", "args", "timeout"}  -> {"type": "ack", "id", "args" | "error"}
//   close       every namespace of the client disconnects (the connection closes after)
//   drop        the connection is cut, not closed: its WebSocket terminated (no close frame,
//               no Engine.IO close packet), as a network drop would (WebSocket transport only)
//   reconnect   every namespace connects again (a client made with reconnection: false);
//               with connection state recovery, the CONNECT carries its pid and last offset
// Observations:
//   {"type": "open" | "upgrade", "transport"}   the Engine.IO connection (first, upgraded)
//   {"type": "connect", "nsp", "sid", "transport", "recovered"}
//   {"type": "connect_error", "nsp", "message", "data", "description", "body"}
//               description: an Engine.IO error's (the HTTP status of a refused poll), body:
//               the refused request's response body (polling), when they are plain values
//   {"type": "disconnect", "nsp", "reason"}
//   {"type": "event", "nsp", "event", "args", "acked"}
//   {"type": "reconnect", "attempt"}
//   {"type": "fatal", "id", "message"}           a command could not be carried out
"use strict";

const { createInterface } = require("node:readline");
const { Manager } = require("socket.io-client");

const WATCHDOG_MS = 120_000;
setTimeout(() => {
  process.stderr.write("client.cjs: watchdog expired\n");
  process.exit(3);
}, WATCHDOG_MS).unref();

const out = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

function toWire(value) {
  if (Buffer.isBuffer(value)) return { $bytes: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $bytes: Buffer.from(value).toString("base64") };
  if (ArrayBuffer.isView(value)) {
    return {
      $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64"),
    };
  }
  if (Array.isArray(value)) return value.map(toWire);
  if (value === undefined) return null;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
}

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bytes") return Buffer.from(value.$bytes, "base64");
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v)]));
  }
  return value;
}

// A string or a number as it is, anything else (an ErrorEvent, a request object) as null.
const plain = (value) => (typeof value === "string" || typeof value === "number" ? value : null);

const clients = new Map(); // client name -> Map(nsp -> Socket)
const managers = new Map(); // client name -> Manager (kept after close, for the diagnosis)

function connect(name, command) {
  const emit = (message) => out({ client: name, ...message });
  const replies = command.replies ?? {};
  const manager = new Manager(command.url, {
    transports: command.transports,
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
    randomizationFactor: 0,
    timeout: 5000,
    ...(command.options ?? {}),
  });
  manager.on("open", () => {
    const engine = manager.engine;
    emit({ type: "open", transport: engine.transport.name });
    engine.on("upgrade", (transport) => emit({ type: "upgrade", transport: transport.name }));
  });
  manager.on("reconnect", (attempt) => emit({ type: "reconnect", attempt }));
  const sockets = new Map();
  for (const nsp of command.namespaces) {
    const socket = manager.socket(nsp, { auth: command.auth ?? {} });
    socket.on("connect", () =>
      emit({
        type: "connect",
        nsp,
        sid: socket.id,
        transport: manager.engine.transport.name,
        recovered: socket.recovered === true,
      }),
    );
    socket.on("connect_error", (error) =>
      emit({
        type: "connect_error",
        nsp,
        message: error.message,
        data: toWire(error.data),
        description: plain(error.description),
        body: plain(error.context?.responseText),
      }),
    );
    socket.on("disconnect", (reason) => emit({ type: "disconnect", nsp, reason }));
    socket.onAny((event, ...args) => {
      const ack = typeof args.at(-1) === "function" ? args.pop() : null;
      emit({ type: "event", nsp, event, args: toWire(args), acked: ack !== null });
      const reply = replies[nsp]?.[event];
      if (ack !== null && reply != null) ack(...fromWire(reply));
    });
    sockets.set(nsp, socket);
    socket.connect();
  }
  clients.set(name, sockets);
  managers.set(name, manager);
}

function socketOf(name, nsp) {
  const socket = clients.get(name)?.get(nsp);
  if (socket === undefined) throw new Error(`client ${name} has no namespace ${nsp}`);
  return socket;
}

function close(name) {
  // Leaving the last namespace makes the Manager close the connection, once the DISCONNECT
  // packets are written, and stop reconnecting.
  for (const socket of clients.get(name)?.values() ?? []) socket.disconnect();
  clients.delete(name);
}

function drop(name) {
  const transport = managers.get(name)?.engine?.transport;
  if (transport?.name !== "websocket") throw new Error(`client ${name} is not on a WebSocket`);
  transport.ws.terminate(); // the ws package's WebSocket: the TCP connection is destroyed
}

function reconnect(name) {
  for (const socket of clients.get(name)?.values() ?? []) socket.connect();
}

function run(command) {
  const name = command.client;
  switch (command.op) {
    case "connect":
      connect(name, command);
      break;
    case "emit":
      socketOf(name, command.nsp).emit(command.event, ...fromWire(command.args));
      break;
    case "call":
      socketOf(name, command.nsp)
        .timeout(command.timeout * 1000)
        .emit(command.event, ...fromWire(command.args), (error, ...args) =>
          out(
            error
              ? { client: name, type: "ack", id: command.id, error: error.message }
              : { client: name, type: "ack", id: command.id, args: toWire(args) },
          ),
        );
      break;
    case "close":
      close(name);
      break;
    case "drop":
      drop(name);
      break;
    case "reconnect":
      reconnect(name);
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
  for (const name of [...clients.keys()]) close(name);
  // Should anything keep the process alive, say what, then end anyway: seen so far, every
  // client closed and one TCP socket left, an HTTP request the server side never answered
  // nor closed after the server stopped (the harness reports it as a warning).
  setTimeout(() => {
    process.stderr.write(
      `client.cjs: alive 3 s after stdin closed: ${JSON.stringify(process.getActiveResourcesInfo())}\n`,
    );
    for (const [name, manager] of managers) {
      const engine = manager.engine;
      process.stderr.write(
        `client.cjs: ${name} manager=${manager._readyState} engine=${engine?.readyState} ` +
          `transport=${engine?.transport?.name}/${engine?.transport?.readyState}\n`,
      );
    }
    process.exit(0);
  }, 3000).unref();
});
