// Root config for editors; `pnpm lint` runs each package's own config through turbo.
import { liConfig } from '@li/eslint-config'

export default liConfig({ tsconfigRootDir: import.meta.dirname })
