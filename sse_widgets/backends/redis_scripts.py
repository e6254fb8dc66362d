"""The Lua scripts of the Redis store (see :mod:`.redis_store` for the key layout).

Each runs atomically in Redis: that is what makes seqs one total order across channels and
processes, and trimming, snapshots and deletion announcements consistent with it.
"""

from __future__ import annotations

__all__ = ["DELETE", "DELETIONS", "EPOCH", "FRAME_FIXED", "PUBLISH"]

# The bytes an event's frame takes in a hub's history (records.Record.frame), less the parts
# the script adds itself (epoch, seq, event, channel, payload, time): the same measure as
# the memory hub, so ``history_bytes`` trims at the same event in Redis and in every cache.
FRAME_FIXED = len('id: -\nevent: \ndata: {"channel": "", "data": , "time": }\n\n')

# The epoch check both scripts below start with: create the epoch if Redis has none, and
# replace it if Redis came back with fewer events than a caller has seen (an AOF cut short by
# a crash, a failover to a lagging replica): its seqs would otherwise be handed out again to
# other events, and readers past them would skip those. Compare-and-set on the epoch the
# caller knows, so concurrent callers agree on one new epoch.
# Needs KEYS[1] = epoch, KEYS[2] = seq; ARGV[1] = candidate epoch, ARGV[2] = the epoch the
# caller knows ('' if none), ARGV[3] = the highest seq the caller has seen.
_EPOCH = """
local epoch = redis.call('GET', KEYS[1])
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
if not epoch or (epoch == ARGV[2] and head < tonumber(ARGV[3])) then
  redis.call('SET', KEYS[1], ARGV[1])
  epoch = ARGV[1]
end
"""

#: Check (and if needed renew) the epoch; returns it. KEYS and ARGV as described above.
EPOCH = _EPOCH + "return epoch\n"

# One script per publish: allocate the seqs, append, trim, record evictions, update the
# snapshot. Running as one script makes it atomic against every other publisher, so ids are
# consecutive within a batch and increase across all channels in the order Redis ran them.
# With an Idempotency-Key, a batch Redis already ran returns its first seq again instead of
# running twice (a retry after a lost reply, on this process or another).
#
# History is trimmed in two steps. Logically, exactly as the memory hub trims (by count, and
# by bytes with the same measure): that decides what a replay gets and `evicted` (the highest
# seq trimmed). Physically, an entry leaves the stream only once it is logically trimmed AND
# older than `grace` seconds (or more than `cap` such entries wait): every process's reader
# still reads a batch larger than the history, or events published while it was briefly
# behind, and fans them out live, as the memory hub does at publish time. `ptrim` records
# the highest seq physically gone, so a reader further behind knows it missed some.
# KEYS: epoch, seq, stream, snapshot hash, snapshot index, evicted hash, channels set,
#       bytes hash, idempotency key, count hash, ptrim hash.
# ARGV: candidate epoch, known epoch, seen seq, channel, maxlen, snapshot size, time,
#       max bytes, frame overhead, idempotency seconds (0: no key), grace seconds, cap,
#       then (event, payload, key)*.
PUBLISH = (
    _EPOCH
    + """
local idem = tonumber(ARGV[10])
if idem > 0 then
  local done = redis.call('GET', KEYS[9])
  if done then return {epoch, tonumber(done), 1} end
end
local channel, t = ARGV[4], ARGV[7]
local base = tonumber(ARGV[9]) + #epoch + #channel
local function size(seq, e, d, at)
  return base + #string.format('%.3f', tonumber(at)) + #tostring(seq) + #e + #d
end
local now_size = base + #string.format('%.3f', tonumber(t))  -- the batch's events share t
local function seq_of(id) return tonumber(string.sub(id, 1, string.find(id, '-') - 1)) end
local n = (#ARGV - 12) / 3
local last = redis.call('INCRBY', KEYS[2], n)
local seq = last - n
local added = 0
for i = 13, #ARGV, 3 do
  seq = seq + 1
  redis.call('XADD', KEYS[3], seq .. '-0', 'e', ARGV[i], 'd', ARGV[i + 1], 't', t)
  added = added + now_size + #tostring(seq) + #ARGV[i] + #ARGV[i + 1]
  local key = ARGV[i + 2]
  if key ~= '' then
    redis.call('HSET', KEYS[4], key, t .. ' ' .. ARGV[i + 1])
    redis.call('ZADD', KEYS[5], seq, key)
  end
end
-- Logical trim: oldest first while over the count, or over the bytes with more than one
-- event left; exact, so the highest evicted seq is known.
local total = redis.call('HINCRBY', KEYS[8], channel, added)
local count = redis.call('HINCRBY', KEYS[10], channel, n)
local maxlen, maxbytes = tonumber(ARGV[5]), tonumber(ARGV[8])
local evicted = tonumber(redis.call('HGET', KEYS[6], channel) or '0')
local function over() return count > maxlen or (total > maxbytes and count > 1) end
if over() then
  local from = '(' .. evicted .. '-0'
  while over() do
    local page = redis.call('XRANGE', KEYS[3], from, '+', 'COUNT', 64)
    if #page == 0 then break end
    for _, entry in ipairs(page) do
      if not over() then break end
      local f = entry[2]  -- fields e, event, d, payload, t, time (as written)
      evicted = seq_of(entry[1])
      total = total - size(evicted, f[2], f[4], f[6])
      count = count - 1
    end
    from = '(' .. evicted .. '-0'
  end
  redis.call('HSET', KEYS[6], channel, evicted)
  redis.call('HSET', KEYS[8], channel, total)
  redis.call('HSET', KEYS[10], channel, count)
end
-- Physical trim: logically trimmed entries older than the grace period, or over the cap.
local waiting = redis.call('XLEN', KEYS[3]) - count
if waiting > 0 then
  local cutoff, cap = tonumber(t) - tonumber(ARGV[11]), tonumber(ARGV[12])
  local gone = nil
  local from, take = '-', 1  -- usually the oldest entry is still in its grace period: probe it
  while waiting > 0 do
    local page = redis.call('XRANGE', KEYS[3], from, '+', 'COUNT', take)
    take = 64
    local stop = #page == 0
    for _, entry in ipairs(page) do
      local s = seq_of(entry[1])
      if s > evicted or (waiting <= cap and tonumber(entry[2][6]) >= cutoff) then
        stop = true
        break
      end
      gone, waiting = s, waiting - 1
    end
    if stop then break end
    from = '(' .. gone .. '-0'
  end
  if gone then
    redis.call('XTRIM', KEYS[3], 'MINID', '=', (gone + 1) .. '-0')
    redis.call('HSET', KEYS[11], channel, gone)
  end
end
local extra = redis.call('ZCARD', KEYS[5]) - tonumber(ARGV[6])
if extra > 0 then
  local old = redis.call('ZPOPMIN', KEYS[5], extra)
  for i = 1, #old, 2 do redis.call('HDEL', KEYS[4], old[i]) end
end
redis.call('SADD', KEYS[7], channel)
if idem > 0 then redis.call('SET', KEYS[9], last - n + 1, 'EX', idem) end
return {epoch, last - n + 1, 0}
"""
)

#: The hidden stream announcing deletions to every process ('#' is never in a channel name).
DELETIONS = "#deleted"

# Delete channels (a public one and its control stream), remembering each one's last seq as
# evicted (a tombstone: a cursor from before the deletion gets a reset if the channel is
# created again), and announce it on the deletions stream under the next seq, so every
# process's reader sees it after the channel's last event and closes its own subscribers.
# KEYS: seq, evicted hash, channels set, bytes hash, deletions stream, count hash, ptrim
#       hash, then per channel: stream, snapshot hash, snapshot index.
# ARGV: time, then the channels.
DELETE = """
local found = 0
for i = 2, #ARGV do
  local k = 8 + (i - 2) * 3
  if redis.call('SREM', KEYS[3], ARGV[i]) == 1 and i == 2 then found = 1 end
  local top = redis.call('XREVRANGE', KEYS[k], '+', '-', 'COUNT', 1)
  if top[1] then
    local id = top[1][1]
    redis.call('HSET', KEYS[2], ARGV[i], string.sub(id, 1, string.find(id, '-') - 1))
  end
  redis.call('HDEL', KEYS[4], ARGV[i])
  redis.call('HDEL', KEYS[6], ARGV[i])
  redis.call('HDEL', KEYS[7], ARGV[i])
  redis.call('DEL', KEYS[k], KEYS[k + 1], KEYS[k + 2])
end
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[5], seq .. '-0', 'e', 'deleted', 'd', ARGV[2], 't', ARGV[1])
redis.call('XTRIM', KEYS[5], 'MAXLEN', '=', 1000)
return {found, seq}
"""
