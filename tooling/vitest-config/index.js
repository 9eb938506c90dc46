// Shared vitest project preset. Plain JS (not .ts) because Node 20 cannot load a .ts preset from a
// workspace package.
import { defineProject } from 'vitest/config'

/**
 * The vitest project config for one package: its name, where its tests live, and the `@li/source`
 * export condition so that tests read sibling packages' sources without building them.
 * @param {string} name
 * @param {import('vitest/config').UserWorkspaceConfig['test']} [extra]
 */
export function packageProject(name, extra = {}) {
  return defineProject({
    ssr: {
      resolve: {
        // Setting the key replaces vite's defaults, so they are listed again.
        conditions: ['@li/source', 'module', 'node', 'development|production'],
      },
    },
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      restoreMocks: true,
      testTimeout: 20_000,
      hookTimeout: 30_000,
      // Runs when the package is tested on its own (`cd packages/x && vitest run`); under the root
      // config the root's setup has already set LI_REDIS_URL and this one does nothing.
      globalSetup: ['@li/vitest-config/redis-global-setup'],
      ...extra,
    },
  })
}
