-- KEYS: leader, grant. ARGV: our record (any of its renewals), ttl, now, new_grant
-- {1, new record} renewed; {0} the record is not ours any more (changed, gone, other type).
-- The holder is compared (node, incarnation, epoch), not the exact bytes: a renew whose reply
-- was lost has changed the renewed time, and the retry must still match. Every renew is a new
-- grant: the candidates time the lease from when they first see it.
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return {0} end
local r = parse(redis.call('GET', KEYS[1]))
local mine = parse(ARGV[1])
if not r or not mine or r.node ~= mine.node or r.inc ~= mine.inc or r.epoch ~= mine.epoch then return {0} end
local rec = build(r.node, r.addr, r.inc, tonumber(r.epoch), tonumber(ARGV[2]), r.acquired, tonumber(ARGV[3]), r.transitions)
redis.call('SET', KEYS[1], rec, 'PX', tonumber(ARGV[2]))
redis.call('SET', KEYS[2], ARGV[4])
return {1, rec}
