// Node's in-memory adapter (socket.io-adapter 2.5) and socket.io's BroadcastOperator, driven
// by JSON lines on stdin; one JSON line answers each. examples/adapters/node_inmemory.py
// points the testing kit at it: this is how the reference profile is checked against Node.
//
// The adapter and the operator are socket.io's own code. Socket and Namespace are stand-ins
// written from socket.io 4.8's socket.js and namespace.js, reduced to what touches rooms:
// join, leave, _onconnect (joins the id room), the middleware phase (_preConnectSockets),
// and _onclose split in two, so that a host can act while the socket is disconnecting
// ("disconnecting" handlers run between the two halves in socket.io).
"use strict";
const path = require("path");
const readline = require("readline");
const { Adapter } = require("socket.io-adapter");
// Not among socket.io's exports: required by its path, next to socket.io's dist/index.js.
const { BroadcastOperator } = require(
  path.join(path.dirname(require.resolve("socket.io")), "broadcast-operator.js"),
);

const noop = () => {};

class Socket {
  constructor(nsp, id) {
    this.nsp = nsp;
    this.id = id;
    this.adapter = nsp.adapter;
    this.server = nsp.server; // marks a local socket for fetchSockets()
    this.connected = false;
    this.disconnecting = false;
  }
  join(rooms) {
    return this.adapter.addAll(this.id, new Set(Array.isArray(rooms) ? rooms : [rooms]));
  }
  leave(room) {
    return this.adapter.del(this.id, room);
  }
  _onconnect() {
    this.connected = true;
    this.join(this.id);
  }
  // socket.disconnect(): _onclose(), whose first half is the "disconnecting" event.
  disconnect() {
    if (!this.connected || this.disconnecting) return this;
    this.disconnecting = true;
    return this;
  }
  // The second half of _onclose: _cleanup(), then connected = false.
  _cleanup() {
    this.adapter.delAll(this.id);
    this.nsp._remove(this);
    this.join = noop;
    this.connected = false;
    this.disconnecting = false;
  }
}

class Namespace {
  constructor(name) {
    this.name = name;
    this.server = { encoder: { encode: (packet) => [JSON.stringify(packet)] } };
    this.sockets = new Map();
    this._preConnectSockets = new Map();
    this._ids = 0;
    this.everyone = new Map(); // every Socket object ever made, as a host keeps references
    this.adapter = new Adapter(this);
    this.notices = [];
    for (const kind of ["create-room", "join-room", "leave-room", "delete-room"]) {
      this.adapter.on(kind, (room, id) => this.notices.push([kind, room, id === undefined ? null : id]));
    }
  }
  _remove(socket) {
    this.sockets.delete(socket.id) || this._preConnectSockets.delete(socket.id);
  }
  operator(rooms, except, sender) {
    let operator = new BroadcastOperator(this.adapter, new Set(), new Set(sender == null ? [] : [sender]));
    if (rooms !== null) operator = operator.to(rooms);
    if (except !== null) operator = operator.except(except);
    return operator;
  }
}

let spaces = new Map();
const space = (name) => {
  if (!spaces.has(name)) spaces.set(name, new Namespace(name));
  return spaces.get(name);
};

// What a host can only do in one phase: accept or refuse in the middleware phase, finish a
// disconnect that has begun. namespace.js and socket.js never call them otherwise.
const pending = (nsp, sid) => nsp._preConnectSockets.has(sid);

const operations = {
  reset: () => { spaces = new Map(); },
  connect: (nsp, sid, pending) => {
    if (nsp.sockets.has(sid) || nsp._preConnectSockets.has(sid)) return; // ids are unique
    const socket = new Socket(nsp, sid);
    nsp.everyone.set(sid, socket);
    if (pending) {
      nsp._preConnectSockets.set(sid, socket);
    } else {
      nsp.sockets.set(sid, socket);
      socket._onconnect();
    }
  },
  accept: (nsp, sid) => {
    if (!pending(nsp, sid)) return;
    const socket = nsp._preConnectSockets.get(sid);
    nsp._preConnectSockets.delete(sid);
    nsp.sockets.set(sid, socket);
    socket._onconnect();
  },
  refuse: (nsp, sid) => pending(nsp, sid) && nsp.everyone.get(sid)._cleanup(),
  join: (nsp, sid, rooms) => nsp.everyone.get(sid).join(rooms),
  leave: (nsp, sid, room) => nsp.everyone.get(sid).leave(room),
  begin_disconnect: (nsp, sid) => nsp.everyone.get(sid).disconnect(),
  finish_disconnect: (nsp, sid) => {
    const socket = nsp.everyone.get(sid);
    if (socket.disconnecting) socket._cleanup();
  },
  disconnect: (nsp, sid) => {
    const socket = nsp.everyone.get(sid);
    if (pending(nsp, sid)) return socket._cleanup();
    socket.disconnect();
    if (socket.disconnecting) socket._cleanup();
  },
  select: async (nsp, rooms, except, sender) =>
    (await nsp.operator(rooms, except, sender).fetchSockets()).map((socket) => socket.id),
  sockets_join: (nsp, names, rooms, except) => nsp.operator(rooms, except).socketsJoin(names),
  sockets_leave: (nsp, names, rooms, except) => nsp.operator(rooms, except).socketsLeave(names),
  disconnect_sockets: (nsp, rooms, except) => nsp.operator(rooms, except).disconnectSockets(),
  close_room: (nsp, room) => nsp.operator(room, null).socketsLeave(room),
  rooms: (nsp) => [...nsp.adapter.rooms.keys()],
  members: (nsp, room) => [...(nsp.adapter.rooms.get(room) || [])],
  rooms_of: (nsp, sid) => [...(nsp.adapter.socketRooms(sid) || [])],
};

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    const [name, nspName, ...args] = JSON.parse(line);
    const nsp = nspName === null ? null : space(nspName);
    let answer;
    try {
      const result = await operations[name](nsp, ...args);
      const notices = nsp === null ? [] : nsp.notices.splice(0);
      answer = { result: Array.isArray(result) ? result : null, notices };
    } catch (error) {
      answer = { error: String(error) };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  });
});
