import { describe, expect, it } from 'vitest'
import { createMemoryQueue } from './testing.js'

describe('createMemoryQueue', () => {
  it('gives a started in-process queue', async () => {
    const mq = await createMemoryQueue({ visibilityTimeout: 1 })
    expect(mq.config.backend).toBe('memory')
    await mq.send('q', 'hello')
    expect((await mq.receive('q'))?.payload).toBe('hello')
    await mq.stop()
  })
})
