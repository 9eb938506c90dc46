import { packageProject } from '@li/vitest-config'

export default packageProject('@li/health')
