/**
 * Where parts of a production came from (file and line), kept beside the model rather than in
 * it, so that models compare equal whatever file they were read from.
 */

/** A file and 1-based line. */
export interface Origin {
  file?: string
  line?: number
}

const origins = new WeakMap<object, Origin>()

/** The file and line an item, setting or production was read from, when known. */
export function originOf(obj: object): Origin | undefined {
  return origins.get(obj)
}

/** Records where `obj` was read from. */
export function setOrigin(obj: object, origin: Origin): void {
  origins.set(obj, origin)
}
