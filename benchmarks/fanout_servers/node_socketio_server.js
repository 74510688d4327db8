#!/usr/bin/env node
// Fan-out benchmark server: Node socket.io 4.8.4 (default options), on 127.0.0.1.
// "join" puts the socket in room "bench", "joinroom" in the room it names; both acknowledge.
// "say" sends "msg" to the room the socket joined, the sender excluded. Both transports
// (websocket and polling) are allowed (the default).
//
// Usage: node node_socketio_server.js --port P
"use strict";

const http = require("http");
const path = require("path");
const { Server } = require(path.join(__dirname, "..", "node", "node_modules", "socket.io"));

const portIndex = process.argv.indexOf("--port");
const port = portIndex > 0 ? Number(process.argv[portIndex + 1]) : 0;
if (!port) throw new Error("--port is required");

const httpServer = http.createServer();
const io = new Server(httpServer, { serveClient: false });

io.on("connection", (socket) => {
  socket.on("join", (...args) => {
    socket.join("bench");
    socket.data.room = "bench";
    const ack = args[args.length - 1];
    if (typeof ack === "function") ack("ok");
  });
  socket.on("joinroom", (room, ...args) => {
    socket.join(room);
    socket.data.room = room;
    const ack = args[args.length - 1];
    if (typeof ack === "function") ack("ok");
  });
  socket.on("say", (message) => {
    socket.to(socket.data.room).emit("msg", message);
  });
});

httpServer.listen(port, "127.0.0.1");
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
