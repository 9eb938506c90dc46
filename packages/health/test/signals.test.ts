import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// The child runs the built package: CI builds before testing (`pnpm build`).
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url))
const child = fileURLToPath(new URL('./fixtures/shutdown-child.mjs', import.meta.url))

interface Run {
  code: number | null
  steps: string[]
  stderr: string
}

function runChild(env: Record<string, string>, signals: NodeJS.Signals[]): Promise<Run> {
  if (!existsSync(dist)) throw new Error(`${dist} is missing: run \`pnpm build\` before the tests`)
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const steps: string[] = []
    let stderr = ''
    let buf = ''
    const killer = setTimeout(() => p.kill('SIGKILL'), 15_000)
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, i)) as { step: string }
        buf = buf.slice(i + 1)
        steps.push(line.step)
        if (line.step === 'ready') {
          for (const [n, s] of signals.entries()) setTimeout(() => p.kill(s), 20 + n * 50)
        }
      }
    })
    p.on('error', reject)
    p.on('exit', (code) => {
      clearTimeout(killer)
      resolve({ code, steps, stderr })
    })
  })
}

describe('GracefulShutdown in a real process', () => {
  it('drains and exits 0 on SIGTERM, stopping hosts in reverse order', async () => {
    const r = await runChild({ STOP_MS: '50' }, ['SIGTERM'])
    expect(r.code).toBe(0)
    expect(r.steps).toEqual(['ready', 'listener', 'stop slow', 'stop first', 'handler'])
    expect(r.stderr).toContain('shutdown complete')
  })

  it('exits at once, non-zero, on a second signal', async () => {
    const r = await runChild({ STOP_MS: '5000' }, ['SIGTERM', 'SIGINT'])
    expect(r.code).toBe(1)
    expect(r.steps).toEqual(['ready', 'listener'])
    expect(r.stderr).toContain('second signal')
  })

  it('exits non-zero past the timeout and logs what did not finish, started or not', async () => {
    const r = await runChild({ STOP_MS: '5000', TIMEOUT_S: '0.3' }, ['SIGTERM'])
    expect(r.code).toBe(1)
    // 'slow' stops first (registered last) and hangs: 'first' and the handler never start.
    expect(r.steps).toEqual(['ready', 'listener'])
    const timedOut = r.stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg?: string; unfinished?: string[]; running?: string[] })
      .find((l) => l.msg?.startsWith('shutdown timed out'))
    expect(timedOut).toMatchObject({
      unfinished: ['host:slow', 'host:first', 'handler:final'],
      running: ['host:slow'],
      notStarted: ['host:first', 'handler:final'],
    })
  })
})
