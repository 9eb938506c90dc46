export { Hl7Error, isHl7Error } from './errors.js'
export type { Hl7ErrorCode } from './errors.js'
