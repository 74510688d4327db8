// Node's Socket.IO server (socket.io, pinned in tests/interop/node/package.json), set up as
// one web test's scenario says, so that the test can show a client sees the same thing from
// it as from the server under test. Run by tests/web/_node_reference.py with NODE_PATH pointing
// at tests/interop/node/node_modules.
//
//   node reference_server.cjs <scenario>
//
// It listens on 127.0.0.1 (a free port), writes {"port": <port>} on stdout, and ends when its
// stdin closes. A line "close" on stdin closes it as an application does (io.close()); it
// writes {"closed": true} once done.
"use strict";

const { createServer } = require("node:http");
const { Server } = require("socket.io");

const scenarios = {
  // Accepts every client (for what a client sees when the server closes).
  "accept-all": () => {},
  // A middleware refuses every client with an error carrying data (next(err), err.data).
  "refuse-with-data": (io) => {
    io.use((socket, next) => {
      const error = new Error("no");
      error.data = { why: 1 };
      next(error);
    });
  },
};

const scenario = scenarios[process.argv[2]];
if (scenario === undefined) {
  process.stderr.write(`unknown scenario ${process.argv[2]}\n`);
  process.exit(2);
}
const http = createServer();
const io = new Server(http);
scenario(io);
http.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: http.address().port })}\n`);
});
const input = require("node:readline").createInterface({ input: process.stdin });
input.on("line", (line) => {
  if (line.trim() === "close") {
    io.close(() => process.stdout.write(`${JSON.stringify({ closed: true })}\n`));
  }
});
input.on("close", () => {
  io.close();
  process.exit(0);
});
