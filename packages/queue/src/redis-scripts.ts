/**
 * The Lua scripts of the Redis backend. Every state change of a message is one script, so it is
 * atomic: no consumer ever sees a half-moved message, and a crash between two commands cannot
 * lose or duplicate one. Time comes from the Redis server (TIME), so consumers on hosts with
 * skewed clocks still agree on visibility deadlines and delays.
 *
 * Keys of queue Q under prefix P, all sharing the hash tag {Q} (base = `P:{Q}`):
 * - `base:seq`      counter (INCRBY per send batch): the send sequence, FIFO tie-break within a priority
 * - `base:m:<id>`   hash: p payload, h headers JSON, pr priority, k ordering key ('' = none),
 *                   t enqueued ms, s sequence, due ms, a deliveries, r current receipt,
 *                   dlv last delivery ms, err last error, dead dead-letter ms
 * - `base:hi:<id>`  list of JSON delivery records (failed deliveries only)
 * - `base:all`      zset id → enqueued ms: every message not acked and not dead (depth, age)
 * - `base:ready`    zset id → -priority*1e12 + sequence: deliverable now, ZPOPMIN takes the best
 * - `base:delayed`  zset id → due ms: not yet visible (send delay, nack backoff)
 * - `base:flight`   zset id → visibility deadline ms: delivered, not yet acked
 * - `base:dead`     zset id → dead-letter ms * 1000 + (base:dseq mod 1000): oldest first, and
 *                   in dead-letter order within one ms (as the memory backend), not by id
 * - `base:dseq`     INCR counter: the dead-letter sequence (tie-break above)
 * - `base:k:<key>`  list of ids with that ordering key, in send order. Only the head is ever in
 *                   ready/delayed/flight; the others wait in the list. Ack or dead-letter of the
 *                   head pops it and places the next; a nack leaves it at the head.
 * - `base:blocked`  zset id → sequence: the keyed messages waiting in a key list behind its head
 *                   (for browse, in send order); a message leaves it when it is placed or removed.
 *                   Messages queued behind a key by a build without this set are not in it.
 * - channel `base:wake` (pub/sub, not a key): a script that makes a message ready publishes once
 *                   on it, so long polls of other clients wake at once instead of at their next
 *                   poll. A lost notification only costs latency: polls still run (5 → 100 ms).
 *
 * Message and key-list keys are built inside the scripts, so this needs a standalone Redis (or
 * Sentinel), not Redis Cluster. Numbers are formatted with %.0f because Lua's default number
 * format (%.14g) would round scores above 1e14.
 */

const PRELUDE = `
local base = KEYS[1]
local EXPIRED = 'visibility timeout expired before ack'
local function fmt(n) return string.format('%.0f', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function mkey(id) return base .. ':m:' .. id end
local signalled = false
local function signal()
  if not signalled then
    signalled = true
    -- pcall: a user without channel permissions (Redis 7 ACL default) must not abort the
    -- script halfway (scripts do not roll back); the consumers then simply poll.
    redis.pcall('PUBLISH', base .. ':wake', '')
  end
end
local function score(pr, s) return fmt(-tonumber(pr) * 1000000000000 + tonumber(s)) end
-- One command for many arguments (ZADD score/member pairs, ZREM members, DEL keys) instead of one
-- per message; in chunks of 500 so unpack stays far below Lua's C stack limit (8000).
local function bulk(cmd, key, args)
  for i = 1, #args, 500 do
    local j = math.min(i + 499, #args)
    if key then
      redis.call(cmd, key, unpack(args, i, j))
    else
      redis.call(cmd, unpack(args, i, j))
    end
  end
end
local function place(id, now)
  local f = redis.call('HMGET', mkey(id), 'due', 'pr', 's')
  local due = tonumber(f[1]) or 0
  if due > now then
    redis.call('ZADD', base .. ':delayed', fmt(due), id)
  else
    redis.call('ZADD', base .. ':ready', score(f[2], f[3]), id)
    signal()
  end
end
local function advance_key(key, id, now)
  if not key or key == '' then return end
  local kl = base .. ':k:' .. key
  redis.call('LREM', kl, 1, id)
  local nxt = redis.call('LINDEX', kl, 0)
  if nxt then
    redis.call('ZREM', base .. ':blocked', nxt)
    place(nxt, now)
  end
end
local function history(id, a, dlv, now, outcome, err)
  local e = { attempt = tonumber(a) or 0, deliveredAt = tonumber(dlv) or 0, endedAt = now, outcome = outcome }
  if err then e.error = err end
  redis.call('RPUSH', base .. ':hi:' .. id, cjson.encode(e))
end
local function dead_letter(id, now, enabled)
  redis.call('ZREM', base .. ':all', id)
  advance_key(redis.call('HGET', mkey(id), 'k'), id, now)
  if enabled == '1' then
    redis.call('HSET', mkey(id), 'dead', fmt(now))
    local ds = redis.call('INCR', base .. ':dseq') % 1000
    redis.call('ZADD', base .. ':dead', fmt(now * 1000 + ds), id)
    return 'dead-lettered'
  end
  redis.call('DEL', mkey(id), base .. ':hi:' .. id)
  return 'dropped'
end
`

/**
 * ARGV: per message id, payload, headers JSON, priority, ordering key ('' = none), delay ms.
 * Sequences come from one INCRBY per batch; the all/ready/delayed entries of the whole batch are
 * added with one ZADD each (same state as message by message, fewer commands).
 */
export const SEND_LUA = `${PRELUDE}
local now = now_ms()
local n = #ARGV / 6
local s0 = redis.call('INCRBY', base .. ':seq', n) - n
local all, ready, delayed, blocked = {}, {}, {}, {}
local j = 0
for i = 1, #ARGV, 6 do
  j = j + 1
  local id, pr, key = ARGV[i], ARGV[i + 3], ARGV[i + 4]
  local m = mkey(id)
  if redis.call('EXISTS', m) == 0 then
    local s = s0 + j
    local due = now + tonumber(ARGV[i + 5])
    redis.call('HSET', m, 'p', ARGV[i + 1], 'h', ARGV[i + 2], 'pr', pr, 'k', key,
      't', fmt(now), 's', fmt(s), 'due', fmt(due), 'a', 0)
    all[#all + 1] = fmt(now)
    all[#all + 1] = id
    -- A keyed message is placed only when it is the head of its key's list.
    if key == '' or redis.call('RPUSH', base .. ':k:' .. key, id) == 1 then
      if due > now then
        delayed[#delayed + 1] = fmt(due)
        delayed[#delayed + 1] = id
      else
        ready[#ready + 1] = score(pr, s)
        ready[#ready + 1] = id
      end
    else
      blocked[#blocked + 1] = fmt(s)
      blocked[#blocked + 1] = id
    end
  end
end
bulk('ZADD', base .. ':all', all)
bulk('ZADD', base .. ':delayed', delayed)
bulk('ZADD', base .. ':blocked', blocked)
if #ready > 0 then
  bulk('ZADD', base .. ':ready', ready)
  signal()
end
return 1
`

/**
 * ARGV: max, visibility ms, max retries, dead letters enabled ('1'/'0'), receipt nonce.
 * Promotes due delayed messages, takes back expired deliveries (dead-lettering those out of
 * retries), then delivers up to max. Returns { flat message fields, dead ids, ms to next due or -1
 * (computed only when nothing was delivered) }.
 */
export const RECEIVE_LUA = `${PRELUDE}
local now = now_ms()
local max, vt, maxr, dle, nonce = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local due = redis.call('ZRANGEBYSCORE', base .. ':delayed', '-inf', fmt(now), 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('ZREM', base .. ':delayed', id)
  local f = redis.call('HMGET', mkey(id), 'pr', 's')
  redis.call('ZADD', base .. ':ready', score(f[1], f[2]), id)
end
local dead = {}
local exp = redis.call('ZRANGEBYSCORE', base .. ':flight', '-inf', fmt(now), 'LIMIT', 0, 1000)
for _, id in ipairs(exp) do
  redis.call('ZREM', base .. ':flight', id)
  local m = mkey(id)
  local f = redis.call('HMGET', m, 'a', 'dlv', 'pr', 's')
  history(id, f[1], f[2], now, 'expired', EXPIRED)
  redis.call('HSET', m, 'err', EXPIRED, 'r', '')
  if tonumber(f[1]) > maxr then
    dead_letter(id, now, dle)
    dead[#dead + 1] = id
  else
    redis.call('ZADD', base .. ':ready', score(f[3], f[4]), id)
  end
end
local popped = redis.call('ZPOPMIN', base .. ':ready', max)
local out = {}
local flight = {}
local deadline = fmt(now + vt)
for i = 1, #popped, 2 do
  local id = popped[i]
  local m = mkey(id)
  local f = redis.call('HMGET', m, 'p', 'h', 'pr', 'k', 't', 'a')
  local a = (tonumber(f[6]) or 0) + 1
  local r = nonce .. ':' .. fmt((i + 1) / 2)
  redis.call('HSET', m, 'a', a, 'r', r, 'dlv', fmt(now))
  flight[#flight + 1] = deadline
  flight[#flight + 1] = id
  out[#out + 1] = id
  out[#out + 1] = f[1]
  out[#out + 1] = f[2]
  out[#out + 1] = f[3]
  out[#out + 1] = f[4]
  out[#out + 1] = f[5]
  out[#out + 1] = a
  out[#out + 1] = r
end
bulk('ZADD', base .. ':flight', flight)
local nxt = -1
if #out == 0 then
  for _, z in ipairs({ ':delayed', ':flight' }) do
    local h = redis.call('ZRANGE', base .. z, 0, 0, 'WITHSCORES')
    if h[2] then
      local d = tonumber(h[2]) - now
      if d < 0 then d = 0 end
      if nxt < 0 or d < nxt then nxt = d end
    end
  end
end
return { out, dead, nxt }
`

/**
 * ARGV: pairs of id, receipt. Returns 1 (acked) or 0 (stale) per pair. The receipt check and the
 * ZREM from flight are per message (a repeated pair is stale the second time); the removals from
 * all and the DELs are one command each for the batch, and keys advance after them, in order.
 */
export const ACK_LUA = `${PRELUDE}
local now = now_ms()
local res, done, dels, keyed = {}, {}, {}, {}
for i = 1, #ARGV, 2 do
  local id, rc = ARGV[i], ARGV[i + 1]
  local m = mkey(id)
  local f = redis.call('HMGET', m, 'r', 'k')
  if f[1] and f[1] ~= '' and f[1] == rc and redis.call('ZREM', base .. ':flight', id) == 1 then
    done[#done + 1] = id
    dels[#dels + 1] = m
    dels[#dels + 1] = base .. ':hi:' .. id
    if f[2] and f[2] ~= '' then keyed[#keyed + 1] = { f[2], id } end
    res[#res + 1] = 1
  else
    res[#res + 1] = 0
  end
end
bulk('ZREM', base .. ':all', done)
bulk('DEL', false, dels)
for _, e in ipairs(keyed) do advance_key(e[1], e[2], now) end
return res
`

/**
 * ARGV: id, receipt, requeue ('1'/'0'), delay ms, error text, has error ('1'/'0'), max retries,
 * dead letters enabled. Returns 'requeued', 'dead-lettered', 'dropped' or 'stale'.
 */
export const NACK_LUA = `${PRELUDE}
local now = now_ms()
local id, rc = ARGV[1], ARGV[2]
local m = mkey(id)
local f = redis.call('HMGET', m, 'r', 'a', 'dlv')
if not f[1] or f[1] == '' or f[1] ~= rc or redis.call('ZREM', base .. ':flight', id) == 0 then
  return 'stale'
end
local err = nil
if ARGV[6] == '1' then err = ARGV[5] end
history(id, f[2], f[3], now, 'nacked', err)
if err then
  redis.call('HSET', m, 'err', err, 'r', '')
else
  redis.call('HSET', m, 'r', '')
  redis.call('HDEL', m, 'err')
end
if ARGV[3] == '1' and tonumber(f[2]) <= tonumber(ARGV[7]) then
  redis.call('HSET', m, 'due', fmt(now + tonumber(ARGV[4])))
  place(id, now)
  return 'requeued'
end
return dead_letter(id, now, ARGV[8])
`

/** Returns { live, in flight, oldest enqueued ms or -1, now }. */
/**
 * ARGV: id, receipt, ms. Moves the visibility deadline of a delivery to now + ms when the receipt
 * is still its current one and it is in flight. Returns 1 (extended) or 0 (stale).
 */
export const EXTEND_LUA = `${PRELUDE}
local now = now_ms()
local id, rc = ARGV[1], ARGV[2]
local r = redis.call('HGET', mkey(id), 'r')
if not r or r == '' or r ~= rc or not redis.call('ZSCORE', base .. ':flight', id) then
  return 0
end
redis.call('ZADD', base .. ':flight', 'XX', fmt(now + tonumber(ARGV[3])), id)
return 1
`

export const STATS_LUA = `${PRELUDE}
local now = now_ms()
local o = redis.call('ZRANGE', base .. ':all', 0, 0, 'WITHSCORES')
return { redis.call('ZCARD', base .. ':all'), redis.call('ZCARD', base .. ':flight'), tonumber(o[2]) or -1, now }
`

/** ARGV: limit. Returns per dead letter { id, p, h, pr, k, t, dead, a, err, { history JSON... } }. */
export const DEAD_LETTERS_LUA = `${PRELUDE}
local ids = redis.call('ZRANGE', base .. ':dead', 0, tonumber(ARGV[1]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', mkey(id), 'p', 'h', 'pr', 'k', 't', 'dead', 'a', 'err')
  local e = { id }
  for j = 1, 8 do e[j + 1] = f[j] or '' end
  e[10] = redis.call('LRANGE', base .. ':hi:' .. id, 0, -1)
  out[#out + 1] = e
end
return out
`

/** ARGV: id, or '' for up to 1000 of the oldest. Returns how many were moved back. */
export const REDRIVE_LUA = `${PRELUDE}
local now = now_ms()
local ids
if ARGV[1] == '' then
  ids = redis.call('ZRANGE', base .. ':dead', 0, 999)
elseif redis.call('ZSCORE', base .. ':dead', ARGV[1]) then
  ids = { ARGV[1] }
else
  ids = {}
end
for _, id in ipairs(ids) do
  redis.call('ZREM', base .. ':dead', id)
  local m = mkey(id)
  local s = redis.call('INCR', base .. ':seq')
  redis.call('HSET', m, 'a', 0, 'due', fmt(now), 's', s, 'r', '')
  redis.call('HDEL', m, 'dead')
  local f = redis.call('HMGET', m, 't', 'k')
  redis.call('ZADD', base .. ':all', f[1], id)
  if f[2] == '' then
    place(id, now)
  elseif redis.call('RPUSH', base .. ':k:' .. f[2], id) == 1 then
    place(id, now)
  else
    redis.call('ZADD', base .. ':blocked', s, id)
  end
end
return #ids
`

/**
 * ARGV: cursor section (-1: from the start), cursor score, cursor id, rows wanted, payloads
 * ('1'/'0'). Makes due delayed messages ready (up to 1000, as receive does), then walks the
 * sections flight, ready, blocked, delayed (browse-cursor.ts) from the cursor, strictly after
 * (score, id): members of equal score are in byte order of their ids in a zset, so the rows of
 * the cursor's score that come up to its id are skipped (a ZRANGEBYSCORE of those ties: the cost
 * grows with messages of the same score, e.g. one receive's batch, not with the queue).
 * Returns { rows, now }; a row is { id, section, score, h, pr, k, t, a, err, has err, due,
 * payload or '', payload bytes }.
 */
export const BROWSE_LUA = `${PRELUDE}
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', base .. ':delayed', '-inf', fmt(now), 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('ZREM', base .. ':delayed', id)
  local f = redis.call('HMGET', mkey(id), 'pr', 's')
  redis.call('ZADD', base .. ':ready', score(f[1], f[2]), id)
end
if #due > 0 then signal() end
local sec0, sc, cid, want, pay = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
-- Byte order, as a zset orders members (Lua's < on strings follows the server's locale).
local function lt(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local zs = { ':flight', ':ready', ':blocked', ':delayed' }
local rows = {}
local first = sec0
if first < 0 then first = 0 end
for sec = first, 3 do
  local n = want - #rows
  if n <= 0 then break end
  local key = base .. zs[sec + 1]
  local got
  if sec == sec0 then
    local skip = 0
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, sc, sc)) do
      if not lt(cid, m) then skip = skip + 1 end
    end
    got = redis.call('ZRANGEBYSCORE', key, sc, '+inf', 'WITHSCORES', 'LIMIT', skip, n)
  else
    got = redis.call('ZRANGE', key, 0, n - 1, 'WITHSCORES')
  end
  for i = 1, #got, 2 do rows[#rows + 1] = { got[i], sec, got[i + 1] } end
end
local out = {}
for _, r in ipairs(rows) do
  local m = mkey(r[1])
  local f = redis.call('HMGET', m, 'h', 'pr', 'k', 't', 'a', 'err', 'due')
  local p = ''
  if pay == '1' then p = redis.call('HGET', m, 'p') or '' end
  local e = '0'
  if f[6] then e = '1' end
  out[#out + 1] = { r[1], r[2], r[3], f[1] or '', f[2] or '0', f[3] or '', f[4] or '0',
    f[5] or '0', f[6] or '', e, f[7] or '0', p, redis.call('HSTRLEN', m, 'p') }
end
return { out, now }
`

/**
 * ARGV: id. Removes a waiting (ready, delayed, blocked behind its key) or dead message, with its
 * history; a removed key head lets the next message of its key go. Returns { 'removed', 'waiting'
 * or 'dead', p, h, pr, k, t, a, err, has err }, { 'in-flight' } (not removed) or { 'not-found' }.
 */
export const REMOVE_LUA = `${PRELUDE}
local now = now_ms()
local id = ARGV[1]
local m = mkey(id)
local f = redis.call('HMGET', m, 'p', 'h', 'pr', 'k', 't', 'a', 'err')
if not f[5] then return { 'not-found' } end
if redis.call('ZSCORE', base .. ':flight', id) then return { 'in-flight' } end
local from
if redis.call('ZREM', base .. ':dead', id) == 1 then
  from = 'dead'
elseif redis.call('ZREM', base .. ':all', id) == 1 then
  from = 'waiting'
  redis.call('ZREM', base .. ':ready', id)
  redis.call('ZREM', base .. ':delayed', id)
  redis.call('ZREM', base .. ':blocked', id)
  local key = f[4]
  if key and key ~= '' then
    if redis.call('LINDEX', base .. ':k:' .. key, 0) == id then
      advance_key(key, id, now)
    else
      redis.call('LREM', base .. ':k:' .. key, 1, id)
    end
  end
else
  return { 'not-found' }
end
redis.call('DEL', m, base .. ':hi:' .. id)
local e = '0'
if f[7] then e = '1' end
return { 'removed', from, f[1] or '', f[2] or '', f[3] or '0', f[4] or '', f[5], f[6] or '0', f[7] or '', e }
`
