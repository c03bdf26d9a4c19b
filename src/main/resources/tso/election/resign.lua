-- KEYS: leader, grant, released. ARGV: expected record (exact bytes), channel, message, clean
-- Compare-and-delete, then tell the followers at once. clean = '1' when the resigner had served
-- (so every earlier holder had surely stopped) and has stopped serving: the last grant is then
-- marked released, and a candidate that sees it, on a Redis it had already seen, need not wait.
-- 1 resigned; 0 not ours.
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[4] == '1' and redis.call('TYPE', KEYS[2]).ok == 'string' then
  redis.call('SET', KEYS[3], redis.call('GET', KEYS[2]))
else
  redis.call('DEL', KEYS[3])
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
