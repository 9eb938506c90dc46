// Zero loss across kill -9: a child process runs the engine over the built dist; the parent sends
// over MLLP and records every AA it gets, kills the child with SIGKILL mid-stream, restarts it on
// the same data directory, and checks that every acknowledged message reaches the receiver.
// Run once with in-process queues (the WAL resumes everything) and once with the Redis queue
// (the WAL resumes what was not yet handed off; Redis redelivers what the dead engine had taken).
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { redisUrl } from '@li/vitest-config/redis'
import { afterAll, describe, expect, it } from 'vitest'
import {
  MllpPeer,
  ackFor,
  controlIdOf,
  hl7,
  msaCode,
  removeDir,
  sendMllp,
  tempDir,
  waitFor,
} from './helpers.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const engineDist = path.join(here, '..', 'dist', 'index.js')
const child = path.join(here, 'fixtures', 'kill-child.mjs')

function startChild(
  dataDir: string,
  receiverPort: number,
  extra: string[],
  bpl = false,
): Promise<{ proc: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dataDir, String(receiverPort), ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LI_KILL_BPL: bpl ? '1' : '0' },
    })
    let out = ''
    let err = ''
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const nl = out.indexOf('\n')
      if (nl >= 0) resolve({ proc, port: (JSON.parse(out.slice(0, nl)) as { port: number }).port })
    })
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()))
    proc.on('exit', (code) =>
      reject(new Error(`engine child exited (${code}) before it was ready: ${err.trim()}`)),
    )
  })
}

function kill9(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve()
    proc.once('exit', () => resolve())
    proc.kill('SIGKILL')
  })
}

describe('restart recovery', () => {
  const procs: ChildProcess[] = []
  const dirs: string[] = []
  const peers: MllpPeer[] = []

  afterAll(async () => {
    for (const p of procs) await kill9(p)
    for (const p of peers) await p.close()
    for (const d of dirs) await removeDir(d)
  })

  // The BPL rows route through a process that first asks the receiver (a synchronous call to the
  // Query operation), then sends the message on with MSH-5 FINAL: the kill comes while the process
  // waits for a reply that never comes.
  it.each([
    ['in-process queues', (): string[] => [], false],
    ['the Redis queue', (): string[] => [redisUrl(), `li:test:${randomUUID()}`], false],
    ['in-process queues and a BPL waiting on a synchronous call', (): string[] => [], true],
    [
      'the Redis queue and a BPL waiting on a synchronous call',
      (): string[] => [redisUrl(), `li:test:${randomUUID()}`],
      true,
    ],
  ])(
    'with %s: every acknowledged message arrives after SIGKILL mid-stream and a restart',
    async (_name, extraArgs, bpl) => {
      if (!existsSync(engineDist)) {
        throw new Error(
          `${engineDist} is missing: this test runs the built engine. Run \`pnpm build\` first.`,
        )
      }
      const extra = extraArgs()
      const dir = await tempDir('kill')
      dirs.push(dir)
      // Until the kill the receiver never answers, so every acknowledged message is still inside
      // the engine (queued or awaiting its ACK) when it dies: nothing can pass by luck.
      const peer = new MllpPeer(() => ({ ack: null }))
      peers.push(peer)
      const receiverPort = await peer.listen()
      const first = await startChild(dir, receiverPort, extra, bpl)
      procs.push(first.proc)

      const acked: string[] = []
      const total = 60
      const killAfter = 40
      let killed: Promise<void> | undefined
      for (let i = 0; i < total; i++) {
        const id = `K-${i}`
        let ack: string | null = null
        try {
          ack = await sendMllp(first.port, hl7('ADT^A01', id), 5000)
        } catch {
          ack = null // refused or reset: the engine is dead, the message was not acknowledged
        }
        if (msaCode(ack) === 'AA') acked.push(id)
        if (i === killAfter) killed = kill9(first.proc)
      }
      await killed
      const before = peer.received.length
      peer.behave = (m) => ({ ack: ackFor(controlIdOf(m), 'AA') })

      const second = await startChild(dir, receiverPort, extra, bpl)
      procs.push(second.proc)
      const missing = await waitFor(
        () => {
          // Through the BPL, what counts is the message sent on (MSH-5 FINAL), not the question.
          const delivered = peer.received
            .slice(before)
            .filter((m) => !bpl || m.split('|')[4] === 'FINAL')
          const got = new Set(delivered.map(controlIdOf))
          const left = acked.filter((id) => !got.has(id))
          return left.length === 0 ? left : undefined
        },
        `every acknowledged message at the receiver after the restart (${acked.length} acknowledged)`,
        30_000,
      )
      expect(acked.length).toBeGreaterThan(killAfter)
      expect(missing).toEqual([])
      await kill9(second.proc)
    },
  )
})
