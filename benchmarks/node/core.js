#!/usr/bin/env node
// Peer driver: Node's in-memory socket.io-adapter (Adapter, pinned 2.5.8) on the core
// room-engine workload (bench README section 1), driven without a socket.io server.
//
// One namespace "/", N sockets "s0".."s{N-1}"; socket i joins "big" if i < 10000,
// "mid{i % 1000}" and "small{i // 5}" besides its own id room.
//
// The adapter only touches nsp.name, nsp.server.encoder.encode(packet) (once per broadcast),
// nsp.sockets.get(id) and, per recipient, socket.client.writeToEngine(encodedPackets, opts)
// (plus socket.notifyOutgoingListeners if it is a function; our fake sockets have none).
// writeToEngine is a stub that increments a counter: one call = one delivery. So every
// delivery figure includes the sid-to-socket lookup (nsp.sockets.get) a server makes per
// recipient; benchmarks/core.py makes the same lookup on the Python side.
//
// A whole build and disconnect pass runs once untimed (JIT warm-up), then each round builds a
// fresh adapter and times every op with process.hrtime.bigint(); each broadcast op is also
// run once untimed before its timed repeats. Output: one line of JSON per round, ns per unit:
//   {"build": ns, "room": ns, "union": ns, "all": ns, "disconnect": ns}
// With --serve, a round runs each time a line arrives on stdin (its answer is that JSON line),
// so that benchmarks/core.py can interleave Node's rounds with its own in one warm process.
//
// Usage: node core.js [--n 100000] [--room-repeats 50] [--union-repeats 50]
//                     [--all-repeats 10] [--disconnect-count 10000] [--rounds 1] [--serve]
"use strict";

const path = require("path");
const readline = require("readline");
const v8 = require("v8");
const vm = require("vm");
const { Adapter } = require(path.join(__dirname, "node_modules", "socket.io-adapter"));

const BIG_SIZE = 10000;
const MID_ROOMS = 1000;
const SMALL_SIZE = 5;
const UNION_MIDS = 100;
const UNION_EXCEPT = "mid5";
const DISCONNECT_FROM = 90000;
const EVENT_TYPE = 2; // socket.io-parser PacketType.EVENT

function parseArgs(argv) {
  const opts = {
    n: 100000,
    roomRepeats: 50,
    unionRepeats: 50,
    allRepeats: 10,
    disconnectCount: null, // default: every socket from s90000 up
    rounds: 1,
    serve: false,
  };
  const names = {
    "--n": "n",
    "--room-repeats": "roomRepeats",
    "--union-repeats": "unionRepeats",
    "--all-repeats": "allRepeats",
    "--disconnect-count": "disconnectCount",
    "--rounds": "rounds",
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === "--serve") {
      opts.serve = true;
      continue;
    }
    let value;
    const eq = arg.indexOf("=");
    if (eq !== -1) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    } else {
      value = argv[++i];
    }
    const key = names[arg];
    if (key === undefined || value === undefined) {
      const usage = Object.keys(names).map((k) => `[${k} N]`).join(" ");
      throw new Error(`usage: core.js ${usage} [--serve]`);
    }
    const num = Number(value);
    if (!Number.isInteger(num) || num < 1) throw new Error(`${arg} needs a positive integer`);
    opts[key] = num;
  }
  if (opts.n <= DISCONNECT_FROM) throw new Error(`--n must be > ${DISCONNECT_FROM}`);
  const maxDisconnect = opts.n - DISCONNECT_FROM;
  opts.disconnectCount = Math.min(opts.disconnectCount ?? maxDisconnect, maxDisconnect);
  return opts;
}

// A full GC between ops without needing `node --expose-gc`.
v8.setFlagsFromString("--expose-gc");
const fullGc = vm.runInNewContext("gc");

// Delivery counter: the per-recipient stub is a plain function call that increments it.
let deliveries = 0;

class FakeClient {
  writeToEngine(encodedPackets, opts) {
    deliveries++;
  }
}

class FakeSocket {
  constructor(id) {
    this.id = id;
    this.client = new FakeClient();
  }
}

// The namespace starts empty: build adds each socket to nsp.sockets as socket.io's
// Namespace._doConnect does, and disconnect removes it as Socket._cleanup does (nsp._remove),
// the bookkeeping sansio-rooms' engine does in connect and disconnect. The fake sockets
// themselves are made beforehand, untimed, like the Python side's connection objects.
function makeNamespace() {
  return {
    name: "/",
    sockets: new Map(),
    _ids: 0,
    server: {
      // Same output shape as socket.io-parser's Encoder for a non-binary packet: one string.
      encoder: {
        encode(packet) {
          let str = String(packet.type);
          if (packet.nsp && packet.nsp !== "/") str += packet.nsp + ",";
          if (packet.id != null) str += packet.id;
          if (packet.data != null) str += JSON.stringify(packet.data);
          return [str];
        },
      },
    },
  };
}

// Room-name strings are made before timing; each socket id is made in the timed loop from a
// counter, as the Python side's id factory makes "s<i>". The one-element Set passed to each
// addAll is made in the timed loop, as socket.io's Socket.join / connect path does.
function makePlan(n) {
  const ids = new Array(n);
  const sockets = new Array(n);
  const joins = new Array(n);
  let joinCount = 0;
  for (let i = 0; i < n; i++) {
    ids[i] = `s${i}`;
    sockets[i] = new FakeSocket(ids[i]);
    const rooms = [];
    if (i < BIG_SIZE) rooms.push("big");
    rooms.push(`mid${i % MID_ROOMS}`);
    rooms.push(`small${Math.floor(i / SMALL_SIZE)}`);
    joins[i] = rooms;
    joinCount += rooms.length;
  }
  return { ids, sockets, joins, units: n + joinCount };
}

function build(adapter, plan) {
  const { sockets, joins } = plan;
  const nspSockets = adapter.nsp.sockets;
  for (let i = 0; i < joins.length; i++) {
    const id = `s${i}`;
    nspSockets.set(id, sockets[i]); // connect: the namespace's sid -> socket map
    adapter.addAll(id, new Set([id])); // and its own id room
    const rooms = joins[i];
    for (let j = 0; j < rooms.length; j++) adapter.addAll(id, new Set([rooms[j]]));
  }
}

function packet() {
  return { type: EVENT_TYPE, data: ["ev", { msg: "hello" }] };
}

function emitMany(adapter, opts, repeats) {
  for (let r = 0; r < repeats; r++) adapter.broadcast(packet(), opts);
}

function disconnectRange(adapter, ids, from, count) {
  const nspSockets = adapter.nsp.sockets;
  for (let i = from; i < from + count; i++) {
    const id = ids[i];
    adapter.delAll(id); // Socket._cleanup: leaveAll, then nsp._remove
    nspSockets.delete(id);
  }
}

function check(what, got, want) {
  if (got !== want) throw new Error(`${what}: ${got} deliveries, expected ${want}`);
}

function expectedUnion(n) {
  let count = 0;
  for (let i = 0; i < n; i++) {
    const mid = i % MID_ROOMS;
    const inUnion = i < BIG_SIZE || mid < UNION_MIDS;
    if (inUnion && `mid${mid}` !== UNION_EXCEPT) count++;
  }
  return count;
}

function timed(fn) {
  fullGc();
  const t0 = process.hrtime.bigint();
  fn();
  const t1 = process.hrtime.bigint();
  return Number(t1 - t0);
}

// One round on a fresh adapter: every op timed on its own, ns per unit.
function runRound(opts, plan) {
  const { n } = opts;
  const results = {};
  const nsp = makeNamespace();
  const adapter = new Adapter(nsp);
  results.build = timed(() => build(adapter, plan)) / plan.units;
  if (adapter.sids.size !== n || nsp.sockets.size !== n) throw new Error("build: wrong socket count");

  // 2. room: "big" from s0, sender excluded.
  {
    const bcast = { rooms: new Set(["big"]), except: new Set([plan.ids[0]]) };
    const per = Math.min(n, BIG_SIZE) - 1;
    deliveries = 0;
    emitMany(adapter, bcast, 1);
    check("room warm-up", deliveries, per);
    deliveries = 0;
    const ns = timed(() => emitMany(adapter, bcast, opts.roomRepeats));
    check("room", deliveries, per * opts.roomRepeats);
    results.room = ns / (per * opts.roomRepeats);
  }

  // 3. union: big + mid0..mid99, except room mid5, no sender.
  {
    const rooms = new Set(["big"]);
    for (let k = 0; k < UNION_MIDS; k++) rooms.add(`mid${k}`);
    const bcast = { rooms, except: new Set([UNION_EXCEPT]) };
    const per = expectedUnion(n);
    if (n === 100000 && per !== 18900) throw new Error(`union: expected 18900, got ${per}`);
    deliveries = 0;
    emitMany(adapter, bcast, 1);
    check("union warm-up", deliveries, per);
    deliveries = 0;
    const ns = timed(() => emitMany(adapter, bcast, opts.unionRepeats));
    check("union", deliveries, per * opts.unionRepeats);
    results.union = ns / (per * opts.unionRepeats);
  }

  // 4. all: the whole namespace.
  {
    const bcast = { rooms: new Set(), except: new Set() };
    const per = n;
    deliveries = 0;
    emitMany(adapter, bcast, 1);
    check("all warm-up", deliveries, per);
    deliveries = 0;
    const ns = timed(() => emitMany(adapter, bcast, opts.allRepeats));
    check("all", deliveries, per * opts.allRepeats);
    results.all = ns / (per * opts.allRepeats);
  }

  // 5. disconnect: s90000.. one by one (warmed up on the throw-away adapter).
  {
    const count = opts.disconnectCount;
    const ns = timed(() => disconnectRange(adapter, plan.ids, DISCONNECT_FROM, count));
    results.disconnect = ns / count;
    if (adapter.sids.size !== n - count || adapter.nsp.sockets.size !== n - count) {
      throw new Error("disconnect: wrong socket count");
    }
    for (let i = DISCONNECT_FROM; i < DISCONNECT_FROM + count; i++) {
      if (adapter.rooms.has(plan.ids[i])) throw new Error("disconnect: id room left behind");
    }
  }
  return results;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const plan = makePlan(opts.n);

  // Warm-up: a whole build and disconnect pass on a throw-away adapter.
  {
    const warm = new Adapter(makeNamespace());
    build(warm, plan);
    disconnectRange(warm, plan.ids, DISCONNECT_FROM, opts.disconnectCount);
  }
  const round = () => process.stdout.write(JSON.stringify(runRound(opts, plan)) + "\n");
  if (opts.serve) {
    readline.createInterface({ input: process.stdin }).on("line", round);
    return;
  }
  for (let r = 0; r < opts.rounds; r++) round();
}

main();
