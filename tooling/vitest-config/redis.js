// The real-Redis test harness. `startRedisServer()` runs a private redis-server on a free loopback
// port with persistence off and a temporary directory; `stop()` kills it by PID. `redisUrl()` gives
// tests the URL of the server the global setup started (or LI_REDIS_URL when that is set).
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

export const REDIS_INSTALL_HINT =
  'Redis tests need a redis-server binary on PATH (Debian/Ubuntu: `sudo apt-get install -y redis-server`; ' +
  'macOS: `brew install redis`) or LI_REDIS_URL pointing at a Redis you own.'

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => resolve(addr.port))
    })
  })
}

function ping(port, timeoutMs) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port })
    let buf = ''
    const done = (ok) => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(timeoutMs, () => done(false))
    sock.on('error', () => done(false))
    sock.on('connect', () => sock.write('PING\r\n'))
    sock.on('data', (d) => {
      buf += d.toString()
      if (buf.includes('PONG')) done(true)
    })
  })
}

/** Whether a redis-server binary is on PATH. */
export function hasRedisServer() {
  const r = spawnSync('redis-server', ['--version'], { stdio: 'ignore' })
  return r.status === 0
}

/**
 * Start a private redis-server on a free loopback port (or on `options.port`).
 * @param {{ port?: number, args?: string[], dir?: string }} [options]
 */
export async function startRedisServer(options = {}) {
  if (!hasRedisServer())
    throw new Error(`redis-server was not found on PATH. ${REDIS_INSTALL_HINT}`)
  const port = options.port ?? (await freePort())
  const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'li-redis-'))
  const ownDir = options.dir === undefined
  const args = [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--protected-mode',
    'no',
    ...(options.args ?? []),
  ]
  const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d.toString()))
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break
    if (await ping(port, 200)) {
      const url = `redis://127.0.0.1:${port}`
      return {
        url,
        port,
        dir,
        pid: child.pid,
        async stop() {
          if (child.exitCode === null) {
            const exited = new Promise((r) => child.once('exit', r))
            child.kill('SIGKILL')
            await exited
          }
          if (ownDir) rmSync(dir, { recursive: true, force: true })
        },
      }
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill('SIGKILL')
  throw new Error(`redis-server did not start on port ${port}: ${stderr.trim() || 'no output'}`)
}

/**
 * The URL of the Redis that the test run owns. Throws, with install instructions, when none could
 * be started: Redis tests fail loudly, they never skip.
 */
export function redisUrl() {
  const fromEnv = process.env.LI_REDIS_URL
  if (fromEnv) return fromEnv
  const err = process.env.LI_TEST_REDIS_ERROR
  throw new Error(`No Redis for the tests${err ? `: ${err}` : ''}. ${REDIS_INSTALL_HINT}`)
}
