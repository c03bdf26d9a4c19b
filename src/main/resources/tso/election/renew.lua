-- KEYS: leader. ARGV: expected record (exact bytes), ttl, now
-- {1, new record} renewed; {0} the record is not ours any more (changed, gone, other type).
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return {0} end
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then return {0} end
local r = parse(cur)
if not r then return {0} end
local rec = build(r.node, r.addr, r.inc, tonumber(r.epoch), tonumber(ARGV[2]), r.acquired, tonumber(ARGV[3]), r.transitions)
redis.call('SET', KEYS[1], rec, 'PX', tonumber(ARGV[2]))
return {1, rec}
