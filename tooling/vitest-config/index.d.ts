import type { UserWorkspaceConfig } from 'vitest/config'
/** The vitest project config for one package (name, includes, `@li/source` condition). */
export declare function packageProject(
  name: string,
  extra?: UserWorkspaceConfig['test'],
): UserWorkspaceConfig
