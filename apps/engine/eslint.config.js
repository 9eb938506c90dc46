import { liConfig } from '@li/eslint-config'

export default liConfig({ tsconfigRootDir: import.meta.dirname })
