// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// A PostgreSQL workload through node-postgres (pg) or porsager's postgres, for test_clients.py.
// One JSON argument:
//   {"lib": "pg" | "postgres", "mode": ..., "n": statements per batch, "batches": how many,
//    "table": "an existing (id int, v text) table", "host": "127.0.0.1" or the unix socket
//    directory, "port": port}
// modes: pg "queue" (one Client, n queries issued at once: it queues them), pg "pool" (a Pool of
// 10, n queries issued at once), postgres "all" (max: 1, n queries issued at once: it pipelines
// them on the one connection), postgres "begin" (sql.begin with n queries issued at once inside),
// either lib "loop" (one query awaited at a time: the control).
// Every statement is INSERT INTO T (id, v) VALUES ($1, $2) (postgres quotes T). Prints one JSON
// line: {"statements": {sql text: times run}, "seconds"}. Loopback only.
'use strict';

const spec = JSON.parse(process.argv[2]);
const ins = `INSERT INTO ${spec.table} (id, v) VALUES ($1, $2)`;
const out = { statements: {} };

function ids(b) {
  const r = [];
  for (let i = b * spec.n; i < (b + 1) * spec.n; i++) r.push(i);
  return r;
}

async function viaPg() {
  const pg = require('pg');
  const cfg = { host: spec.host, port: spec.port, user: 'postgres', database: 'postgres',
                ssl: false, connectionTimeoutMillis: 10000 };
  if (spec.mode === 'pool') {
    const pool = new pg.Pool({ ...cfg, max: 10 });
    try {
      for (let b = 0; b < spec.batches; b++) {
        await Promise.all(ids(b).map((i) => pool.query(ins, [i, 'v-' + i])));
      }
    } finally {
      await pool.end();
    }
  } else {
    const c = new pg.Client(cfg);
    await c.connect();
    try {
      for (let b = 0; b < spec.batches; b++) {
        if (spec.mode === 'queue') {
          await Promise.all(ids(b).map((i) => c.query(ins, [i, 'v-' + i])));
        } else if (spec.mode === 'loop') {
          for (const i of ids(b)) await c.query(ins, [i, 'v-' + i]);
        } else {
          throw new Error('pg: unknown mode ' + spec.mode);
        }
      }
    } finally {
      await c.end();
    }
  }
  out.statements[ins] = spec.n * spec.batches;
}

async function viaPostgres() {
  const mod = require('postgres'); // 4.x is an ES module: require() gives its namespace
  const postgres = mod.default || mod;
  const sql = postgres({ host: spec.host, port: spec.port, user: 'postgres', database: 'postgres',
                         ssl: false, max: 1, connect_timeout: 10, onnotice: () => {} });
  const one = (q, i) => q`INSERT INTO ${q(spec.table)} (id, v) VALUES (${i}, ${'v-' + i})`;
  try {
    for (let b = 0; b < spec.batches; b++) {
      if (spec.mode === 'all') {
        await Promise.all(ids(b).map((i) => one(sql, i)));
      } else if (spec.mode === 'begin') {
        await sql.begin((tx) => Promise.all(ids(b).map((i) => one(tx, i))));
      } else if (spec.mode === 'loop') {
        for (const i of ids(b)) await one(sql, i);
      } else {
        throw new Error('postgres: unknown mode ' + spec.mode);
      }
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
  // sql(name) quotes the identifier: the server sees INSERT INTO "T" ...
  out.statements[ins.replace(spec.table, `"${spec.table}"`)] = spec.n * spec.batches;
}

(async () => {
  const t0 = process.hrtime.bigint();
  if (spec.lib === 'pg') await viaPg();
  else if (spec.lib === 'postgres') await viaPostgres();
  else throw new Error('unknown lib ' + spec.lib);
  out.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify(out));
})().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
