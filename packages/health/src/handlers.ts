/** hono handlers for `GET /health`, `/health/live` and `/health/ready`. */
import { Hono } from 'hono'
import type { Context } from 'hono'
import type { HealthRegistry } from './registry.js'
import { HealthStatus } from './status.js'

/** `GET /health`: every check with status, duration and message; 503 when UNHEALTHY. */
export function healthHandler(registry: HealthRegistry): (c: Context) => Promise<Response> {
  return async (c) => {
    const report = await registry.checkAll()
    return c.json(report, report.status === HealthStatus.UNHEALTHY ? 503 : 200)
  }
}

/** `GET /health/live`: 200 while the event loop turns, 503 otherwise. */
export function livenessHandler(registry: HealthRegistry): (c: Context) => Promise<Response> {
  return async (c) => {
    const report = await registry.checkLiveness()
    return c.json(report, report.status === HealthStatus.HEALTHY ? 200 : 503)
  }
}

/** `GET /health/ready`: 200 when ready for traffic, 503 while starting, shutting down or failing. */
export function readinessHandler(registry: HealthRegistry): (c: Context) => Promise<Response> {
  return async (c) => {
    const report = await registry.checkReadiness()
    return c.json(report, report.ready ? 200 : 503)
  }
}

/** A hono app with the three health routes, to mount with `app.route('/', healthRoutes(r))`. */
export function healthRoutes(registry: HealthRegistry): Hono {
  const app = new Hono()
  app.get('/health', healthHandler(registry))
  app.get('/health/live', livenessHandler(registry))
  app.get('/health/ready', readinessHandler(registry))
  return app
}
