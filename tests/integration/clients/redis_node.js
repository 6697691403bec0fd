// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// A Redis workload through ioredis or node-redis, for test_clients.py. One JSON argument:
//   {"lib": "ioredis" | "redis", "mode": ..., "n": commands per batch, "batches": how many,
//    "prefix": "key prefix", "port": TCP port on 127.0.0.1 | "unix": socket path}
// modes: ioredis "auto" (enableAutoPipelining: every command of a batch fired at once, then all
// awaited), ioredis "pipeline" (.pipeline() ... .exec()), redis "burst" (node-redis v4: every
// command fired without awaiting; it pipelines them within a tick), redis "multi"
// (.multi() ... .exec(): MULTI/EXEC), redis "pipeline" (.multi() ... .execAsPipeline()),
// either lib "loop" (one command awaited at a time: the control).
// Keys PREFIX:0 .. PREFIX:(n*batches - 1); those with i % 3 != 0 are SET first (the same way),
// then every key is read with GET. Prints one JSON line: {set, get, multi, exec, hits, misses,
// seconds}. Loopback only: 127.0.0.1 or a unix socket.
'use strict';

const spec = JSON.parse(process.argv[2]);
const total = spec.n * spec.batches;
const keys = [];
for (let i = 0; i < total; i++) keys.push(`${spec.prefix}:${i}`);
const exist = keys.filter((_, i) => i % 3 !== 0);
const out = { set: 0, get: 0, multi: 0, exec: 0, hits: 0, misses: 0 };

function chunks(a, n) {
  const r = [];
  for (let i = 0; i < a.length; i += n) r.push(a.slice(i, i + n));
  return r;
}

function tally(replies) {
  for (const v of replies) {
    if (v === null || v === undefined) out.misses++;
    else out.hits++;
  }
}

async function viaIoredis() {
  const Redis = require('ioredis');
  const opts = spec.unix ? { path: spec.unix } : { host: '127.0.0.1', port: spec.port };
  const r = new Redis({ ...opts, enableAutoPipelining: spec.mode === 'auto',
                        maxRetriesPerRequest: 0, connectTimeout: 10000 });
  try {
    for (const [list, cmd] of [[exist, 'set'], [keys, 'get']]) {
      for (const part of chunks(list, spec.n)) {
        let replies;
        if (spec.mode === 'auto') {
          replies = await Promise.all(part.map((k) => (cmd === 'set' ? r.set(k, 'v-' + k)
                                                                     : r.get(k))));
        } else if (spec.mode === 'pipeline') {
          const p = r.pipeline();
          for (const k of part) (cmd === 'set' ? p.set(k, 'v-' + k) : p.get(k));
          const res = await p.exec();
          for (const [err] of res) if (err) throw err;
          replies = res.map(([, v]) => v);
        } else if (spec.mode === 'loop') {
          replies = [];
          for (const k of part) {
            replies.push(await (cmd === 'set' ? r.set(k, 'v-' + k) : r.get(k)));
          }
        } else {
          throw new Error('ioredis: unknown mode ' + spec.mode);
        }
        out[cmd] += part.length;
        if (cmd === 'get') tally(replies);
      }
    }
  } finally {
    r.disconnect();
  }
}

async function viaNodeRedis() {
  const { createClient } = require('redis');
  const socket = spec.unix ? { path: spec.unix } : { host: '127.0.0.1', port: spec.port };
  const c = createClient({ socket: { ...socket, connectTimeout: 10000,
                                    reconnectStrategy: false } });
  c.on('error', () => {});
  await c.connect();
  try {
    for (const [list, cmd] of [[exist, 'set'], [keys, 'get']]) {
      for (const part of chunks(list, spec.n)) {
        let replies;
        if (spec.mode === 'burst') {
          replies = await Promise.all(part.map((k) => (cmd === 'set' ? c.set(k, 'v-' + k)
                                                                     : c.get(k))));
        } else if (spec.mode === 'multi' || spec.mode === 'pipeline') {
          const m = c.multi();
          for (const k of part) (cmd === 'set' ? m.set(k, 'v-' + k) : m.get(k));
          replies = spec.mode === 'multi' ? await m.exec() : await m.execAsPipeline();
          if (spec.mode === 'multi') { out.multi++; out.exec++; }
        } else if (spec.mode === 'loop') {
          replies = [];
          for (const k of part) {
            replies.push(await (cmd === 'set' ? c.set(k, 'v-' + k) : c.get(k)));
          }
        } else {
          throw new Error('redis: unknown mode ' + spec.mode);
        }
        out[cmd] += part.length;
        if (cmd === 'get') tally(replies);
      }
    }
  } finally {
    await c.quit();
  }
}

(async () => {
  const t0 = process.hrtime.bigint();
  if (spec.lib === 'ioredis') await viaIoredis();
  else if (spec.lib === 'redis') await viaNodeRedis();
  else throw new Error('unknown lib ' + spec.lib);
  out.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify(out));
})().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
