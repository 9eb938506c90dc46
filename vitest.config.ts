import { defineConfig } from 'vitest/config'

// One vitest process for the whole repo; each package is a project with its own config.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
    globalSetup: ['@li/vitest-config/redis-global-setup'],
  },
})
