-- KEYS: leader, epoch, limit, transitions, grant, released.
-- ARGV: node, addr, inc, ttl, now, min_epoch, seen_identity, seen_grant, new_grant, expected
-- expected is '' to take an absent key, or the exact bytes of a record the caller saw unchanged
-- (with its grant) for a whole TTL on its own clock: a holder that no longer renews, whatever
-- Redis's clock says about the key's expiry.
-- {1, record} won; {0} the key is held (the caller inspects it); {2} Redis or its last grant is
-- not what the caller saw (inspect again); {-1, reason} cannot campaign.
if not unchanged(KEYS[5], ARGV[7], ARGV[8]) then return {2} end
local t = redis.call('TYPE', KEYS[1]).ok
if ARGV[10] == '' then
  if t ~= 'none' then return {0} end
else
  if t ~= 'string' or redis.call('GET', KEYS[1]) ~= ARGV[10] then return {0} end
  -- Checked before the delete: a script's writes stay whatever it returns.
  if read_limit(KEYS[3]) == false then return {-1, 'limit_corrupt'} end
  redis.call('DEL', KEYS[1])
end
return acquire({node = ARGV[1], addr = ARGV[2], inc = ARGV[3], ttl = ARGV[4], now = ARGV[5], min_epoch = ARGV[6],
  grant = ARGV[9]})
