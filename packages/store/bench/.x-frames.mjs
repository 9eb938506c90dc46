// Raw experiment: frames per commit of the engine mix (16 writes per commit) on variants of the schema.
import Database from 'better-sqlite3'
import { rmSync, statSync } from 'node:fs'
import { MessageStore } from '/work/main/packages/store/dist/index.js'
const variant = process.argv[2] ?? 'base'
const path = `/tmp/frames-${variant}.db`
for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true })
const st = new MessageStore({ path }); await st.start(); await st.stop()
const db = new Database(path)
db.pragma('journal_mode=WAL'); db.pragma('synchronous=NORMAL'); db.pragma('wal_autocheckpoint=0')
for (const sql of (process.env.X_SQL ?? '').split(';').filter(Boolean)) db.exec(sql)
const ins = db.prepare(`INSERT INTO messages (host_name, message_id, message_type, correlation_id, session_id, direction, payload, metadata, state, error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'inbound', ?, ?, 'received', NULL, ?, ?)`)
const hist = db.prepare('INSERT INTO message_history (message_id, state, time, error) VALUES (?, ?, ?, ?)')
const upd = db.prepare('UPDATE messages SET state = ?, error = ?, updated_at = ? WHERE id = ?')
const hop = db.prepare('INSERT INTO hops (session_id, message_id, source, target, state, time, detail) VALUES (?, ?, ?, ?, ?, ?, ?)')
const payload = 'MSH|^~\\&|'.padEnd(3300, 'x')
const N = Number(process.env.N ?? 20000)
const ids = []
const t0 = performance.now(); const c0 = process.cpuUsage()
let commits = 0
const tx = db.transaction((from, to) => {
  for (let i = from; i < to; i++) {
    const t = Date.now(); const s = `${(i * 2654435761) % 4294967296}-${i}-4a7c`
    const id = ins.run('PAS.In', `MSG${i}`, 'ADT^A01', `MSG${i}`, s, payload, '{"walId":"1"}', t, t).lastInsertRowid
    hist.run(id, 'received', t, null)
    for (let h = 0; h < 6; h++) hop.run(s, id, 'PAS.In', 'Router', 'queued', t, null)
    upd.run('completed', null, t, id); hist.run(id, 'completed', t, null)
  }
})
const per = Number(process.env.PER ?? 2)
for (let i = 0; i < N; i += per) { tx(i, i + per); commits++ }
const cpu = process.cpuUsage(c0); const wall = performance.now() - t0
const frames = statSync(path + '-wal').size / 4120
console.log(variant, 'per commit msgs', per, 'frames/commit', (frames / commits).toFixed(1), 'cpu µs/write', ((cpu.user + cpu.system) / (N * 8)).toFixed(1), 'wall µs/write', (wall * 1000 / (N * 8)).toFixed(1))
db.close()
