-- KEYS: leader, epoch, limit, transitions, grant, released.
-- ARGV: type, exact bytes (GET or DUMP), node, addr, inc, ttl, now, min_epoch, seen_identity, seen_grant, new_grant
-- Replaces a value that has no TTL and that the caller saw unchanged for a grace period: only
-- when it is still exactly those bytes, still has no TTL, and Redis and its last grant are what
-- the caller saw. Answers as campaign does.
if not unchanged(KEYS[5], ARGV[9], ARGV[10]) then return {2} end
local t = redis.call('TYPE', KEYS[1]).ok
if t ~= ARGV[1] or redis.call('PTTL', KEYS[1]) ~= -1 then return {0} end
local cur
if t == 'string' then cur = redis.call('GET', KEYS[1]) else cur = redis.call('DUMP', KEYS[1]) end
if cur ~= ARGV[2] then return {0} end
if read_limit(KEYS[3]) == false then return {-1, 'limit_corrupt'} end
redis.call('DEL', KEYS[1])
return acquire({node = ARGV[3], addr = ARGV[4], inc = ARGV[5], ttl = ARGV[6], now = ARGV[7], min_epoch = ARGV[8],
  grant = ARGV[11]})
