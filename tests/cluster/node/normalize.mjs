#!/usr/bin/env node
// Prints a fixture with its random values replaced by their placeholders, so that two captures
// can be compared:
//
//   diff <(node normalize.mjs a.json) <(node normalize.mjs b.json)
//
// Every value listed in the fixture's "random" map is replaced by its placeholder, in channels,
// decoded values, results, deliveries, state and commands, and inside the payload bytes (shown
// here as "payload_norm": latin1 text with non-printable bytes as \xHH). handshake.time and
// handshake.issued are replaced by pattern (<time>, <issued>; "<issued>" in decoded values): clients that connect within the
// same second share the same time, so these values are not unique to a client. The payload
// length bytes in front of those values are left as they are (all random values of one kind
// have one length, except the ephemeral port in <host:S>, which is 4 or 5 digits).

import { readFileSync } from "node:fs";

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: node normalize.mjs <fixture.json>\n");
  process.exit(2);
}
const fx = JSON.parse(readFileSync(file, "utf8"));
const pairs = Object.entries(fx.random || {})
  .filter(([k]) => !/^<(time|issued):/.test(k))
  .map(([k, v]) => [v, k])
  .sort((a, b) => b[0].length - a[0].length);

const TIME = /[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT[+-]\d{4} \([^)]*\)/g;
const ISSUED = /("issued"\s*:\s*)\d+/g;

function text(s) {
  for (const [v, k] of pairs) s = s.split(v).join(k);
  return s.replace(TIME, "<time>").replace(ISSUED, '$1"<issued>"');
}

function bytesText(b64) {
  const latin1 = Buffer.from(b64, "base64").toString("latin1");
  // random values are ASCII, so they appear as-is in the latin1 view
  let s = latin1;
  for (const [v, k] of pairs) s = s.split(v).join(k);
  s = s.replace(TIME, "<time>").replace(ISSUED, "$1<issued>");
  return s.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

function normMessage(m) {
  const { payload_b64, payload_utf8, ...rest } = m;
  return JSON.parse(text(JSON.stringify({ ...rest, payload_norm: bytesText(payload_b64) })));
}

const out = {
  ...fx,
  random: Object.keys(fx.random || {}),
  setup: fx.setup && { ...fx.setup, messages: fx.setup.messages.map(normMessage), commands: JSON.parse(text(JSON.stringify(fx.setup.commands))) },
  scenarios: (fx.scenarios || []).map((s) => {
    const { messages, ...rest } = s;
    return { ...JSON.parse(text(JSON.stringify(rest))), messages: messages.map(normMessage) };
  }),
};
process.stdout.write(JSON.stringify(out, null, 2) + "\n");
