"""The Lua scripts of the Redis store (see :mod:`.redis_store` for the key layout).

Each runs atomically in Redis: that is what makes seqs one total order across channels and
processes, and trimming, snapshots and deletion announcements consistent with it.
"""

from __future__ import annotations

__all__ = ["DELETE", "DELETIONS", "FRAME_FIXED", "PUBLISH"]

# The bytes an event's frame takes in a hub's history (records.Record.frame), less the parts
# the script adds itself (epoch, seq, event, channel, payload, time): the same measure as
# the memory hub, so ``history_bytes`` trims at the same event in Redis and in every cache.
FRAME_FIXED = len('id: -\nevent: \ndata: {"channel": "", "data": , "time": }\n\n')

# One script per publish: allocate the seqs, append, trim, record evictions, update the
# snapshot. Running as one script makes it atomic against every other publisher, so ids are
# consecutive within a batch and increase across all channels in the order Redis ran them.
# With an Idempotency-Key, a batch Redis already ran returns its first seq again instead of
# running twice (a retry after a lost reply, on this process or another).
# KEYS: epoch, seq, stream, snapshot hash, snapshot index, evicted hash, channels set,
#       bytes hash, idempotency key.
# ARGV: candidate epoch, channel, maxlen, snapshot size, time, max bytes, frame overhead,
#       idempotency seconds (0: no key), then (event, payload, key)*.
PUBLISH = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[1])
  epoch = ARGV[1]
end
local idem = tonumber(ARGV[8])
if idem > 0 then
  local done = redis.call('GET', KEYS[9])
  if done then return {epoch, tonumber(done), 1} end
end
local t = ARGV[5]
local base = tonumber(ARGV[7]) + #epoch + #ARGV[2]
local function size(seq, e, d, at)
  return base + #string.format('%.3f', tonumber(at)) + #tostring(seq) + #e + #d
end
local n = (#ARGV - 8) / 3
local last = redis.call('INCRBY', KEYS[2], n)
local seq = last - n
local added = 0
for i = 9, #ARGV, 3 do
  seq = seq + 1
  redis.call('XADD', KEYS[3], seq .. '-0', 'e', ARGV[i], 'd', ARGV[i + 1], 't', t)
  added = added + size(seq, ARGV[i], ARGV[i + 1], t)
  local key = ARGV[i + 2]
  if key ~= '' then
    redis.call('HSET', KEYS[4], key, t .. ' ' .. ARGV[i + 1])
    redis.call('ZADD', KEYS[5], seq, key)
  end
end
-- Trim exactly as the memory hub does: oldest first while over the count, or over the bytes
-- with more than one event left. Exact (not MAXLEN ~), so the highest evicted seq is known.
local total = redis.call('HINCRBY', KEYS[8], ARGV[2], added)
local count = redis.call('XLEN', KEYS[3])
local maxlen, maxbytes = tonumber(ARGV[3]), tonumber(ARGV[6])
local dropped, gone = 0, nil
local from = '-'
local function over()
  return count - dropped > maxlen or (total > maxbytes and count - dropped > 1)
end
while over() do
  local page = redis.call('XRANGE', KEYS[3], from, '+', 'COUNT', 64)
  if #page == 0 then break end
  for _, entry in ipairs(page) do
    if not over() then break end
    local f, id = entry[2], entry[1]  -- fields e, event, d, payload, t, time (as written)
    gone = tonumber(string.sub(id, 1, string.find(id, '-') - 1))
    total = total - size(gone, f[2], f[4], f[6])
    dropped = dropped + 1
  end
  from = '(' .. gone .. '-0'
end
if gone then
  redis.call('XTRIM', KEYS[3], 'MINID', '=', (gone + 1) .. '-0')
  redis.call('HSET', KEYS[6], ARGV[2], gone)
  redis.call('HSET', KEYS[8], ARGV[2], total)
end
local over = redis.call('ZCARD', KEYS[5]) - tonumber(ARGV[4])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[5], over)
  for i = 1, #old, 2 do redis.call('HDEL', KEYS[4], old[i]) end
end
redis.call('SADD', KEYS[7], ARGV[2])
if idem > 0 then redis.call('SET', KEYS[9], last - n + 1, 'EX', idem) end
return {epoch, last - n + 1, 0}
"""

#: The hidden stream announcing deletions to every process ('#' is never in a channel name).
DELETIONS = "#deleted"

# Delete channels (a public one and its control stream), remembering each one's last seq as
# evicted (a tombstone: a cursor from before the deletion gets a reset if the channel is
# created again), and announce it on the deletions stream under the next seq, so every
# process's reader sees it after the channel's last event and closes its own subscribers.
# KEYS: seq, evicted hash, channels set, bytes hash, deletions stream, then per channel:
#       stream, snapshot hash, snapshot index.  ARGV: time, then the channels.
DELETE = """
local found = 0
for i = 2, #ARGV do
  local k = 6 + (i - 2) * 3
  if redis.call('SREM', KEYS[3], ARGV[i]) == 1 and i == 2 then found = 1 end
  local top = redis.call('XREVRANGE', KEYS[k], '+', '-', 'COUNT', 1)
  if top[1] then
    local id = top[1][1]
    redis.call('HSET', KEYS[2], ARGV[i], string.sub(id, 1, string.find(id, '-') - 1))
  end
  redis.call('HDEL', KEYS[4], ARGV[i])
  redis.call('DEL', KEYS[k], KEYS[k + 1], KEYS[k + 2])
end
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[5], seq .. '-0', 'e', 'deleted', 'd', ARGV[2], 't', ARGV[1])
redis.call('XTRIM', KEYS[5], 'MAXLEN', '=', 1000)
return {found, seq}
"""
