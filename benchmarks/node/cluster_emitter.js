#!/usr/bin/env node
// Emitter benchmark (benchmarks/cluster.py): @socket.io/redis-emitter 5.1.0 on node-redis
// 4.7.1, K times emitter.to("bench").emit("msg", i) as fast as it goes. emit() does not wait:
// node-redis pipelines the PUBLISH commands written in one tick on its one connection. The
// clock stops when a PING sent after the last emit is answered (one connection, replies in
// order: every PUBLISH has been answered by then).
//
// Output: one line of JSON, {"count":K,"elapsed_s":...,"publishes_per_s":...,"errors":[]}
//
// Usage: node cluster_emitter.js --redis URL [--count 20000]
"use strict";

const path = require("path");
const { performance } = require("perf_hooks");

const modules = path.join(__dirname, "node_modules");
const { Emitter } = require(path.join(modules, "@socket.io", "redis-emitter"));
const { createClient } = require(path.join(modules, "redis"));

function arg(name, fallback) {
  const index = process.argv.indexOf(name);
  return index > 0 ? process.argv[index + 1] : fallback;
}

async function main() {
  const url = arg("--redis");
  const count = Number(arg("--count", "20000"));
  if (!url) throw new Error("--redis is required");
  const errors = [];
  const client = createClient({ url });
  client.on("error", (err) => errors.push(`redis: ${err}`));
  await client.connect();
  const emitter = new Emitter(client);
  await client.ping(); // warm: the connection is up and idle
  const t0 = performance.now();
  for (let i = 0; i < count; i++) emitter.to("bench").emit("msg", i);
  await client.ping();
  const elapsed = (performance.now() - t0) / 1000;
  await client.quit();
  const result = { count, elapsed_s: elapsed, publishes_per_s: count / elapsed, errors };
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(errors.length ? 1 : 0));
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ errors: [String(err && err.stack)] })}\n`);
  process.exit(1);
});
