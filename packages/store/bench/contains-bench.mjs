// Cost of query({ contains }) on a 100,000-message store (3.3 KB bodies), worker backend: one
// page examines CONTAINS_SCAN_LIMIT messages when nothing matches. `node bench/contains-bench.mjs`
// after `pnpm turbo run build --filter=@li/store`.
import os from 'node:os'
import path from 'node:path'
import { MessageStore } from '../dist/index.js'
import fs from 'node:fs'
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'li-contains-'))
const s = new MessageStore({ dataDir: dir, worker: true })
await s.start()
const body =
  'MSH|^~\\&|PAS|RXX|EPR|RXX|20260101120000||ADT^A01|MSG|P|2.4\rPID|1||123456^^^NHS||DOE^JANE\r'.padEnd(
    3300,
    'X',
  )
const N = 100_000
for (let i = 0; i < N; i += 1000)
  await Promise.all(
    Array.from({ length: 1000 }, (_, j) =>
      s.store({
        hostName: j % 2 ? 'PAS.In' : 'LAB.In',
        messageId: `M${i + j}`,
        payload: body,
        messageType: 'ADT^A01',
        correlationId: `c${i + j}`,
      }),
    ),
  )
for (const q of [
  { contains: 'NOPE', limit: 50 },
  { contains: 'NOPE', hostName: 'PAS.In', limit: 50 },
  { contains: 'NOPE', since: new Date(Date.now() - 3600e3), limit: 50 },
]) {
  const times = []
  for (let r = 0; r < 5; r++) {
    const t = performance.now()
    await s.query(q)
    times.push(performance.now() - t)
  }
  times.sort((a, b) => a - b)
  console.log(
    JSON.stringify(Object.keys(q)),
    'median ms',
    times[2].toFixed(1),
    'min',
    times[0].toFixed(1),
    'max',
    times[4].toFixed(1),
  )
}
await s.stop()
fs.rmSync(dir, { recursive: true })
