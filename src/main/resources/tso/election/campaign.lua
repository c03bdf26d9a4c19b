-- KEYS: leader, epoch, limit, transitions, lease. ARGV: node, addr, inc, ttl, now, min_epoch
-- {1, record, wait} won (serve after wait ms); {0} the key is held (by anyone, valid or not: the caller inspects it);
-- {-1, reason} cannot campaign.
if redis.call('TYPE', KEYS[1]).ok ~= 'none' then return {0} end
return acquire({node = ARGV[1], addr = ARGV[2], inc = ARGV[3], ttl = ARGV[4], now = ARGV[5], min_epoch = ARGV[6]})
