import { describe, expect, it } from 'vitest'
import { toWalIoError } from './errors.js'
import { WalError, isWalError } from './index.js'

describe('WalError', () => {
  it('carries a stable code and the cause, and is recognised by its guard', () => {
    const cause = new Error('disk')
    const e = new WalError('WAL_INTERNAL', 'something broke', { cause })
    expect(e.code).toBe('WAL_INTERNAL')
    expect(e.name).toBe('WalError')
    expect(e.cause).toBe(cause)
    expect(isWalError(e)).toBe(true)
    expect(isWalError(new Error('plain'))).toBe(false)
  })

  it('carries the file and offset of a corrupt record', () => {
    const location = { file: '/data/wal/seg-0000000001.wal', offset: 4096 }
    const e = new WalError('WAL_CORRUPT_RECORD', 'bad CRC', { location })
    expect(e.location).toEqual(location)
    expect(new WalError('WAL_IO', 'x').location).toBeUndefined()
  })

  it('maps ENOSPC and EDQUOT to WAL_DISK_FULL and other I/O errors to WAL_IO', () => {
    const errno = (code: string): Error => Object.assign(new Error(`${code}: failed`), { code })
    expect(toWalIoError(errno('ENOSPC'), 'appending').code).toBe('WAL_DISK_FULL')
    expect(toWalIoError(errno('EDQUOT'), 'appending').code).toBe('WAL_DISK_FULL')
    const io = toWalIoError(errno('EIO'), 'appending to seg-1.wal')
    expect(io.code).toBe('WAL_IO')
    expect(io.message).toContain('appending to seg-1.wal')
    expect(io.cause).toBeInstanceOf(Error)
    const same = new WalError('WAL_CLOSED', 'closed')
    expect(toWalIoError(same, 'x')).toBe(same)
  })
})
