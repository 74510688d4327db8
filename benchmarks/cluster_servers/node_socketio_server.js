#!/usr/bin/env node
// Cluster benchmark server: Node socket.io 4.8.4 with @socket.io/redis-adapter 8.3.0
// (createAdapter: classic pub/sub) on node-redis 4.7.1, on 127.0.0.1.
// "join" puts the socket in room "bench" and acknowledges; "say" sends "msg" to the room,
// the sender excluded (locally, and through Redis to the other servers). The Redis clients
// connect before the server listens.
//
// Usage: node node_socketio_server.js --port P --redis URL
"use strict";

const http = require("http");
const path = require("path");

const modules = path.join(__dirname, "..", "node", "node_modules");
const { Server } = require(path.join(modules, "socket.io"));
const { createAdapter } = require(path.join(modules, "@socket.io", "redis-adapter"));
const { createClient } = require(path.join(modules, "redis"));

function arg(name) {
  const index = process.argv.indexOf(name);
  return index > 0 ? process.argv[index + 1] : undefined;
}

async function main() {
  const port = Number(arg("--port"));
  const url = arg("--redis");
  if (!port || !url) throw new Error("--port and --redis are required");
  const pub = createClient({ url });
  const sub = pub.duplicate();
  for (const client of [pub, sub]) client.on("error", (err) => console.error(`redis: ${err}`));
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer();
  const io = new Server(httpServer, { serveClient: false, adapter: createAdapter(pub, sub) });
  io.on("connection", (socket) => {
    socket.on("join", (...args) => {
      socket.join("bench");
      const ack = args[args.length - 1];
      if (typeof ack === "function") ack("ok");
    });
    socket.on("say", (message) => {
      socket.to("bench").emit("msg", message);
    });
  });
  httpServer.listen(port, "127.0.0.1");
}

for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
main().catch((err) => {
  console.error(err && err.stack);
  process.exit(1);
});
