-- KEYS: leader, limit. {type, pttl, value (GET for strings, DUMP otherwise), limit or false}
local t = redis.call('TYPE', KEYS[1]).ok
local lim = false
local lt = redis.call('TYPE', KEYS[2]).ok
if lt == 'string' then lim = redis.call('GET', KEYS[2]) elseif lt ~= 'none' then lim = 'not a string: ' .. lt end
if t == 'none' then return {t, -2, false, lim} end
local pttl = redis.call('PTTL', KEYS[1])
if t == 'string' then return {t, pttl, redis.call('GET', KEYS[1]), lim} end
return {t, pttl, redis.call('DUMP', KEYS[1]), lim}
