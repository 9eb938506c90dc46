// `--import`ed by WorkerSqliteBackend into its worker when running from the TypeScript sources.
import { register } from 'node:module'

register('./ts-loader-hooks.mjs', import.meta.url)
