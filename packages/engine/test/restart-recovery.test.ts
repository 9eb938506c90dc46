// Zero loss across kill -9: a child process runs the engine over the built dist; the parent sends
// over MLLP and records every AA it gets, kills the child with SIGKILL mid-stream, restarts it on
// the same data directory, and checks that every acknowledged message reaches the receiver.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
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
): Promise<{ proc: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dataDir, String(receiverPort)], {
      stdio: ['ignore', 'pipe', 'pipe'],
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
  let dir: string | undefined
  let peer: MllpPeer | undefined

  afterAll(async () => {
    for (const p of procs) await kill9(p)
    await peer?.close()
    if (dir !== undefined) await removeDir(dir)
  })

  it('delivers every acknowledged message after the engine is killed with SIGKILL mid-stream and restarted', async () => {
    if (!existsSync(engineDist)) {
      throw new Error(
        `${engineDist} is missing: this test runs the built engine. Run \`pnpm build\` first.`,
      )
    }
    dir = await tempDir('kill')
    // Until the kill the receiver never answers, so every acknowledged message is still inside
    // the engine (queued or awaiting its ACK) when it dies: nothing can pass by luck.
    peer = new MllpPeer(() => ({ ack: null }))
    const receiverPort = await peer.listen()
    const first = await startChild(dir, receiverPort)
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
        ack = null // connection refused or reset: the engine is dead, the message was not acknowledged
      }
      if (msaCode(ack) === 'AA') acked.push(id)
      if (i === killAfter) killed = kill9(first.proc)
    }
    await killed
    const before = peer.received.length
    peer.behave = (m) => ({ ack: ackFor(controlIdOf(m), 'AA') })

    const second = await startChild(dir, receiverPort)
    procs.push(second.proc)
    const missing = await waitFor(
      () => {
        const got = new Set(peer!.received.slice(before).map(controlIdOf))
        const left = acked.filter((id) => !got.has(id))
        return left.length === 0 ? left : undefined
      },
      `every acknowledged message at the receiver after the restart (${acked.length} acknowledged)`,
      30_000,
    )
    expect(acked.length).toBeGreaterThan(killAfter)
    expect(missing).toEqual([])
    await kill9(second.proc)
  })
})
