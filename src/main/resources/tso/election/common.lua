-- Shared by every election script: the election record's format, built and checked here exactly
-- as tso.election.ElectionRecord builds and checks it in Java.
--   tso-leader/1;node=<id>;addr=<host:port>;inc=<16 hex>;epoch=<n>;ttl=<ms>;acquired=<ms>;renewed=<ms>;transitions=<n>;crc=<8 hex>
-- crc is the CRC-32 (IEEE) of everything before ";crc=". Redis 6.2 and 7 ship the bit library.
local function crc32(s)
  local crc = -1
  for i = 1, #s do
    crc = bit.bxor(crc, string.byte(s, i))
    for _ = 1, 8 do
      local mask = -bit.band(crc, 1)
      crc = bit.bxor(bit.rshift(crc, 1), bit.band(-306674912, mask)) -- 0xEDB88320 as a signed 32-bit int
    end
  end
  return bit.tohex(bit.bnot(crc), 8)
end

local function build(node, addr, inc, epoch, ttl, acquired, renewed, transitions)
  local body = string.format('tso-leader/1;node=%s;addr=%s;inc=%s;epoch=%d;ttl=%d;acquired=%d;renewed=%d;transitions=%d',
    node, addr, inc, epoch, ttl, acquired, renewed, transitions)
  return body .. ';crc=' .. crc32(body)
end

-- Returns a table of fields, or nil when the value is not a valid record of format 1.
local function parse(v)
  if type(v) ~= 'string' or #v > 1024 then return nil end
  local body, crc = string.match(v, '^(tso%-leader/1;.*);crc=(%x%x%x%x%x%x%x%x)$')
  if not body or crc32(body) ~= crc then return nil end
  local node, addr, inc, epoch, ttl, acquired, renewed, transitions = string.match(body,
    '^tso%-leader/1;node=([%w%._:%-]+);addr=([^;=]+);inc=(%x+);epoch=(%d+);ttl=(%d+);acquired=(%d+);renewed=(%d+);transitions=(%d+)$')
  if not node then return nil end
  return {node = node, addr = addr, inc = inc, epoch = epoch, ttl = tonumber(ttl),
    acquired = tonumber(acquired), renewed = tonumber(renewed), transitions = tonumber(transitions)}
end

-- The limit key: bound=<ms>;epoch=<n>. Returns bound, epoch; nil when absent; false when corrupt.
local function read_limit(key)
  local t = redis.call('TYPE', key).ok
  if t == 'none' then return nil end
  if t ~= 'string' then return false end
  local v = redis.call('GET', key)
  local b, e = string.match(v, '^bound=(%d+);epoch=(%d+)$')
  if not b then return false end
  return tonumber(b), tonumber(e)
end

-- An integer counter's value; 0 when absent or not a valid integer string.
local function read_counter(key)
  if redis.call('TYPE', key).ok ~= 'string' then
    redis.call('DEL', key)
    return 0
  end
  local v = redis.call('GET', key)
  if not string.match(v, '^%d+$') or #v > 15 then return 0 end
  return tonumber(v)
end

-- Which Redis this is: its run id (new at every start) and its replication id (new when a replica
-- is promoted). A candidate that saw the same grant on another Redis saw another history: a
-- restarted or promoted Redis may have lost grants made after it.
local function identity()
  local s = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or '?'
  local r = string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)') or '?'
  return s .. ':' .. r
end

-- The grant key (KEYS[5] in campaign and takeover, KEYS[2] in renew and resign) holds a token
-- that every campaign, takeover and renew replaces with a fresh one chosen by the caller (its
-- incarnation and a counter: never reused). A candidate times the lease out on its own monotonic
-- clock from when it first saw the current (identity, grant) pair; Redis's clock and its key
-- expiry are never trusted for that.
local function grant_of(key)
  if redis.call('TYPE', key).ok ~= 'string' then return '' end
  return redis.call('GET', key)
end

-- The caller's view is still the truth: same Redis, same last grant.
local function unchanged(grant_key, seen_identity, seen_grant)
  return identity() == seen_identity and grant_of(grant_key) == seen_grant
end

-- Takes the (absent) leader key: a new epoch above every epoch known, the record with a TTL.
-- KEYS: leader, epoch, limit, transitions, grant, released. a: node, addr, inc, ttl, now, min_epoch, grant
-- The epoch is also at least the caller's wall clock in milliseconds: after Redis has lost the
-- counter and the limit, and the winner its data directory, epochs still go up (given node
-- clocks within the stated bound of each other, and fewer than one election per millisecond).
-- {1, record}
local function acquire(a)
  local lb, le = read_limit(KEYS[3])
  if lb == false then return {-1, 'limit_corrupt'} end
  local floor = tonumber(a.min_epoch)
  if le and le > floor then floor = le end
  -- A counter that is not an integer (or not a string) is repaired, never an error that would
  -- stop every election: the floor keeps epochs growing.
  local e = read_counter(KEYS[2]) + 1
  if e <= floor then e = floor + 1 end
  local wall = tonumber(a.now)
  if wall and e < wall then e = wall end
  redis.call('SET', KEYS[2], string.format('%d', e))
  local tr = read_counter(KEYS[4]) + 1
  redis.call('SET', KEYS[4], tr)
  local ttl = tonumber(a.ttl)
  local rec = build(a.node, a.addr, a.inc, e, ttl, tonumber(a.now), tonumber(a.now), tr)
  redis.call('SET', KEYS[1], rec, 'PX', ttl)
  redis.call('SET', KEYS[5], a.grant)
  redis.call('DEL', KEYS[6])
  return {1, rec}
end
