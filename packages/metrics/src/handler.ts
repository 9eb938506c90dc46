/** The `GET /metrics` handler for hono: Prometheus text format with its content type. */
import type { Context } from 'hono'
import type { Registry } from 'prom-client'
import { LiMetrics } from './metrics.js'

/** A hono handler that serves `source`'s metrics (an `LiMetrics` or a prom-client `Registry`). */
export function metricsHandler(source: LiMetrics | Registry): (c: Context) => Promise<Response> {
  const registry = source instanceof LiMetrics ? source.registry : source
  return async (c) => {
    const body = await registry.metrics()
    return c.body(body, 200, { 'Content-Type': registry.contentType })
  }
}
