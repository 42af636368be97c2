// objget.js - print one object of a NATS Object Store bucket to stdout, read
// with the official NATS JavaScript client (npm "nats"), which checks the
// object's SHA-256 digest. A reader that is not ours, for the claim-check tests.
//
//   NODE_PATH=<node_modules> node objget.js nats://127.0.0.1:4222 BUCKET NAME
// Exit 0 and the object's bytes; 1 and a message on stderr otherwise.
"use strict";
const { connect } = require("nats");

async function main() {
  const [url, bucket, name] = process.argv.slice(2);
  const nc = await connect({ servers: url });
  try {
    const js = nc.jetstream();
    const os = await js.views.os(bucket);
    const r = await os.get(name);
    if (r === null) throw new Error(`no object "${name}" in bucket "${bucket}"`);
    const chunks = [];
    for await (const c of r.data) chunks.push(Buffer.from(c));
    const err = await r.error;
    if (err) throw err;
    process.stdout.write(Buffer.concat(chunks));
  } finally {
    await nc.close();
  }
}

main().catch((e) => {
  process.stderr.write(`objget: ${e.message}\n`);
  process.exit(1);
});
