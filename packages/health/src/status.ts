/** Health states, from best to worst. */
export const HealthStatus = {
  HEALTHY: 'HEALTHY',
  DEGRADED: 'DEGRADED',
  UNHEALTHY: 'UNHEALTHY',
  UNKNOWN: 'UNKNOWN',
} as const

/** One of {@link HealthStatus}. */
export type HealthStatus = (typeof HealthStatus)[keyof typeof HealthStatus]
