// Crash recovery for real: a child process appends and completes (mostly in `fsync` mode, once
// each in `async` and `none`) and is killed with SIGKILL at a random moment, five times over the
// same directory (kills land during group writes, rotations and checkpoints: segments are 64 KiB,
// checkpoints every 0.1 s). After each kill this process recovers the log and checks the promise
// of @li/wal:
// - every append the child saw resolve comes back, unless the child had called complete() on it;
// - nothing whose complete() resolved comes back, in this or later rounds;
// - pending entries are in append order, intact, and no corruption is reported.
//
// The child is plain JS importing the built `dist/` (a child process cannot use vitest's loader).
// CI runs `turbo run build` before vitest; locally run `pnpm --filter @li/wal build` first, and
// again after changing src/, or this test exercises stale code.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { Wal } from '../src/index.js'
import type { WalError } from '../src/index.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const childScript = path.join(here, 'fixtures', 'kill-child.mjs')
const distEntry = path.join(here, '..', 'dist', 'index.js')
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'li-wal-kill9-'))

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

interface ChildRun {
  lines: string[]
  stderr: string
}

/** Runs the child until `killAfterMs` after it is ready, then SIGKILLs it; returns whole lines. */
function runChild(seed: number, killAfterMs: number, syncMode: string): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, dir, String(seed), syncMode], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let timer: NodeJS.Timeout | undefined
    const guard = setTimeout(() => child.kill('SIGKILL'), 15_000)
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
      if (timer === undefined && stdout.includes('ready\n')) {
        timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
      }
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (_code, signal) => {
      clearTimeout(guard)
      if (timer !== undefined) clearTimeout(timer)
      if (signal !== 'SIGKILL') {
        reject(
          new Error(`child exited by itself (seed ${seed}, signal ${String(signal)}):\n${stderr}`),
        )
        return
      }
      // A line cut by the kill has no newline: only whole lines are facts.
      const lines = stdout.split('\n')
      lines.pop()
      resolve({ lines, stderr })
    })
  })
}

describe('recovery after SIGKILL of a writing process', () => {
  it('loses no resolved append and resurrects no synced completion across repeated kills', async () => {
    if (!fs.existsSync(distEntry)) {
      throw new Error(
        `${distEntry} is missing: run \`pnpm --filter @li/wal build\` (or \`pnpm build\`) first`,
      )
    }
    // The child runs dist/: refuse to test code older than the sources next to it.
    const srcDir = path.join(here, '..', 'src')
    const newestSource = Math.max(
      ...fs
        .readdirSync(srcDir)
        .filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts'))
        .map((n) => fs.statSync(path.join(srcDir, n)).mtimeMs),
    )
    if (fs.statSync(distEntry).mtimeMs < newestSource - 1000) {
      const hint = 'run `pnpm --filter @li/wal build` (or `pnpm build`) first'
      throw new Error(`${distEntry} is older than packages/wal/src: ${hint}`)
    }
    let pendingBefore = new Set<number>()
    const gone = new Set<number>() // ids that left the log for good: must never come back
    // SIGKILL loses nothing the OS already has, so every mode must pass; power loss is where
    // the modes differ, and that cannot be simulated here.
    const modes = ['fsync', 'async', 'fsync', 'none', 'fsync']
    for (const [round, syncMode] of modes.entries()) {
      const seed = 1 + Math.floor(Math.random() * 1e9)
      const killAfterMs = 50 + Math.floor(Math.random() * 350)
      const ctx = `round ${round} (${syncMode}), seed ${seed}, kill after ${killAfterMs} ms`
      const run = await runChild(seed, killAfterMs, syncMode)

      const appended = new Map<number, string>()
      const completeCalled = new Set<number>()
      const completeResolved = new Set<number>()
      let recovered = -1
      for (const line of run.lines) {
        const [tag, a, b] = line.split(' ')
        if (tag === 'A') appended.set(Number(a), b!)
        else if (tag === 'c') completeCalled.add(Number(a))
        else if (tag === 'C') completeResolved.add(Number(a))
        else if (tag === 'R') recovered = Number(a)
      }
      expect(recovered, `${ctx}: the child recovered what the last check saw`).toBe(
        pendingBefore.size,
      )
      expect(appended.size, `${ctx}: the child appended something`).toBeGreaterThan(0)

      const corrupt: WalError[] = []
      const wal = new Wal({
        directory: dir,
        maxFileSize: 64 * 1024,
        entryTtl: 0,
        checkpointInterval: 0,
      })
      wal.on('corrupt', (e) => corrupt.push(e))
      await wal.start()
      const pending = wal.pending()
      await wal.stop()
      const ids = pending.map((e) => e.id)
      const have = new Set(ids)

      expect(
        corrupt.map((e) => e.message),
        ctx,
      ).toEqual([])
      for (const id of [...pendingBefore, ...appended.keys()]) {
        if (!completeCalled.has(id))
          expect(have.has(id), `${ctx}: resolved append ${id} is lost`).toBe(true)
      }
      for (const id of completeResolved) {
        expect(have.has(id), `${ctx}: completed entry ${id} came back`).toBe(false)
      }
      for (const id of gone)
        expect(have.has(id), `${ctx}: entry ${id} gone earlier came back`).toBe(false)
      expect(ids, `${ctx}: append order`).toEqual([...ids].sort((x, y) => x - y))
      for (const e of pending) {
        expect(e.hostName, ctx).toBe('child')
        const k = Number(e.messageId.split('-')[1])
        expect(e.payload, `${ctx}: payload of ${e.id}`).toBe(
          `MSH|${e.messageId}|${'x'.repeat(k % 700)}`,
        )
        const seen = appended.get(e.id)
        if (seen !== undefined) expect(e.messageId, ctx).toBe(seen)
      }

      for (const id of [...pendingBefore, ...appended.keys()]) if (!have.has(id)) gone.add(id)
      pendingBefore = have
    }
  }, 60_000) // five child processes; generous for a loaded CI machine
})
