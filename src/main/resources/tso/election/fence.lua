-- KEYS: leader, limit. ARGV: inc, epoch, bound
-- Raises the persisted bound only while the caller holds the record with that epoch and
-- incarnation, and only upwards. {1} written; {0, reason[, stored]} refused.
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return {0, 'not_holder'} end
local r = parse(redis.call('GET', KEYS[1]))
if not r or r.inc ~= ARGV[1] or r.epoch ~= ARGV[2] then return {0, 'not_holder'} end
local lb = read_limit(KEYS[2])
if lb == false then return {0, 'limit_corrupt'} end
local nb = tonumber(ARGV[3])
if lb and nb < lb then return {0, 'not_larger', lb} end
redis.call('SET', KEYS[2], string.format('bound=%d;epoch=%d', nb, tonumber(ARGV[2])))
return {1}
