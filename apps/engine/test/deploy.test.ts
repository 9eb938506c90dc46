import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkProduction, formatCompatibilityReport } from '@li/engine'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'

// No Docker engine or cluster runs here: the manifests are parsed and checked for what ops rely
// on, and the alert rules are checked by promtool.
const root = fileURLToPath(new URL('..', import.meta.url))
const k8s = path.join(root, 'deploy/kubernetes')

// Manifests are free-form YAML: the tests index into them as plain data.
type Doc = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

function docs(file: string): Doc[] {
  const parsed = parseAllDocuments(readFileSync(path.join(k8s, file), 'utf8'))
  for (const d of parsed) expect(d.errors, `${file}: ${String(d.errors[0])}`).toEqual([])
  return parsed.map((d) => d.toJS() as Doc).filter(Boolean)
}

/** The first document that matches, or a failure naming what was missing. */
function find(all: Doc[], what: string, match: (d: Doc) => boolean = () => true): Doc {
  const d = all.find(match)
  if (d === undefined) throw new Error(`no ${what}`)
  return d
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? yamlFiles(path.join(dir, e.name))
      : e.name.endsWith('.yaml')
        ? [path.join(dir, e.name)]
        : [],
  )
}

describe('Kubernetes manifests', () => {
  it('all parse as YAML', () => {
    const files = yamlFiles(k8s)
    expect(files.length).toBeGreaterThanOrEqual(7)
    for (const f of files) docs(path.relative(k8s, f))
  })

  it('run 3 engine replicas with probes, preStop, a grace period longer than the drain, and a volume each', () => {
    const all = docs('engine.yaml')
    const sts = find(all, 'StatefulSet', (d) => d.kind === 'StatefulSet')
    expect(sts.spec.replicas).toBe(3)
    const pod = sts.spec.template.spec
    const c = pod.containers[0]
    expect(c.livenessProbe.httpGet.path).toBe('/health/live')
    expect(c.readinessProbe.httpGet.path).toBe('/health/ready')
    expect(c.lifecycle.preStop).toBeDefined()
    // drain 10 s + shutdown 30 s + preStop 5 s must fit in the grace period
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(45)
    expect(pod.securityContext.runAsNonRoot).toBe(true)
    expect(c.volumeMounts).toContainEqual(
      expect.objectContaining({ name: 'data', mountPath: '/data' }),
    )
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe('data')
    const env = Object.fromEntries(
      c.env.map((e: { name: string; value?: string }) => [e.name, e.value ?? 'from-secret']),
    )
    expect(env).toMatchObject({ LI_DATA_DIR: '/data', LI_HTTP_PORT: '8080', LI_SYNC_MODE: 'fsync' })
    expect(env.LI_REDIS_URL).toMatch(/^redis:\/\/li-redis:6379$/)
    const svc = find(
      all,
      'li-engine Service',
      (d) => d.kind === 'Service' && d.metadata.name === 'li-engine',
    )
    expect(svc.spec.ports.map((p: { port: number }) => p.port).sort()).toEqual([2575, 8080])
  })

  it('give each engine its pod name and the other engines through the headless Service', () => {
    const all = docs('engine.yaml')
    const sts = find(all, 'StatefulSet', (d) => d.kind === 'StatefulSet')
    const c = sts.spec.template.spec.containers[0]
    const env = (name: string): Doc | undefined =>
      c.env.find((e: { name: string }) => e.name === name)
    expect(env('LI_INSTANCE')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name')
    const peers = /^dns:([^:]+):(\d+)$/.exec(String(env('LI_PEERS')?.value))
    expect(peers, 'LI_PEERS=dns:<service>:<port>').not.toBeNull()
    // The DNS name is the StatefulSet's headless Service, on the port the API listens on.
    const headless = find(
      all,
      'headless Service',
      (d) => d.kind === 'Service' && d.metadata.name === peers?.[1],
    )
    expect(sts.spec.serviceName).toBe(headless.metadata.name)
    expect(headless.spec.clusterIP).toBe('None')
    // Pods that are not ready still hold parts of the traces: they must be listed, not left out.
    expect(headless.spec.publishNotReadyAddresses).toBe(true)
    expect(headless.spec.selector).toEqual(sts.spec.template.metadata.labels)
    const port = headless.spec.ports.find((p: { port: number }) => p.port === Number(peers?.[2]))
    expect(port?.targetPort).toBe('http')
    expect(c.ports.find((p: { name: string }) => p.name === 'http')?.containerPort).toBe(
      Number(env('LI_HTTP_PORT')?.value),
    )
    // The API token the peers are called with is the same Secret in every pod.
    expect(env('LI_ADMIN_TOKEN')?.valueFrom?.secretKeyRef?.name).toBe('li-engine-admin')
  })

  it('ship the production as a ConfigMap that passes check, and a persistent Redis', async () => {
    const cm = find(docs('configmap.yaml'), 'ConfigMap')
    expect(cm.kind).toBe('ConfigMap')
    expect(cm.data['production.xml']).toContain('<Production')
    // The pods run this file: it must load, with its rule class, and be fully supported.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'li-configmap-'))
    try {
      const file = path.join(dir, 'production.xml')
      writeFileSync(file, cm.data['production.xml'])
      const report = await checkProduction({ path: file })
      expect(report.exitCode, formatCompatibilityReport(report)).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    const redis = find(docs('redis.yaml'), 'Redis StatefulSet', (d) => d.kind === 'StatefulSet')
    expect(redis.spec.template.spec.containers[0].args).toEqual(
      expect.arrayContaining(['--appendonly', 'yes']),
    )
    // Redis holds the only copy once the WAL entry is completed at the hand-off.
    const args: string[] = redis.spec.template.spec.containers[0].args
    expect(args[args.indexOf('--appendfsync') + 1]).toBe('always')
    // A backlog must fill Redis up to a refusal (the engine then keeps the messages in its WAL),
    // not past the container's memory limit (OOM kill, then the same AOF reloaded: a crash loop).
    expect(args[args.indexOf('--maxmemory-policy') + 1]).toBe('noeviction')
    const maxMb = Number(/^(\d+)mb$/.exec(args[args.indexOf('--maxmemory') + 1] ?? '')?.[1])
    const limit = String(redis.spec.template.spec.containers[0].resources.limits.memory)
    const limitMb =
      Number(/^(\d+)Gi$/.exec(limit)?.[1]) * 1024 || Number(/^(\d+)Mi$/.exec(limit)?.[1])
    expect(maxMb).toBeGreaterThan(0)
    expect(maxMb).toBeLessThan(limitMb * 0.8)
  })

  it('have alert rules that promtool accepts, on the contracted metric names', () => {
    const file = path.join(k8s, 'prometheus/alert-rules.yaml')
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' })
    if (r.error)
      throw new Error(`promtool is needed (apt-get install -y prometheus): ${r.error.message}`)
    expect(r.stdout + r.stderr).toContain('SUCCESS')
    expect(r.status).toBe(0)
    const text = readFileSync(file, 'utf8')
    for (const m of [
      'li_queue_depth',
      'li_queue_oldest_age_seconds',
      'li_host_status',
      'li_messages_failed_total',
      'li_data_volume_free_bytes',
      'li_store_purge_runs_total',
    ]) {
      expect(text).toContain(m)
    }
    // The rules fire when they should (promtool unit tests on synthetic series).
    const unit = spawnSync('promtool', ['test', 'rules', 'alert-rules.promtest.yaml'], {
      cwd: path.join(root, 'test/fixtures'),
      encoding: 'utf8',
    })
    expect(unit.stdout + unit.stderr).toContain('SUCCESS')
    expect(unit.status).toBe(0)
    const scrape = find(docs('prometheus/scrape-config.yaml'), 'scrape config')
    expect(scrape.scrape_configs[0].metrics_path).toBe('/metrics')
  })
})

describe('Dockerfile', () => {
  const text = readFileSync(path.join(root, 'Dockerfile'), 'utf8')
  it('is multi-stage, deploys the app with pnpm, runs Node 24 slim as non-root with a /data volume', () => {
    expect(text.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2)
    expect(text).toContain('ARG NODE_VERSION=24')
    expect(text).toMatch(/FROM node:\$\{NODE_VERSION\}-bookworm-slim AS runtime/)
    expect(text).toMatch(/pnpm --filter @li\/engine-app deploy --prod/)
    expect(text).toMatch(/^USER li$/m)
    expect(text).toMatch(/^VOLUME \["\/data"\]$/m)
    expect(text).toMatch(/^EXPOSE 2575 8080$/m)
    expect(text).toMatch(/^HEALTHCHECK /m)
  })
})
