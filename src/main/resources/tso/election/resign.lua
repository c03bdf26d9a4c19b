-- KEYS: leader, lease. ARGV: expected record (exact bytes), channel, message
-- Compare-and-delete, then tell the followers at once. The resigner has stopped serving before
-- calling: the next holder need not wait. 1 resigned; 0 not ours.
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], redis_ms())
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
