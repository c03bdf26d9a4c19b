-- KEYS: leader, limit, grant, released.
-- {type, pttl, value (GET for strings, DUMP otherwise), limit or false, grant, released, identity}
local t = redis.call('TYPE', KEYS[1]).ok
local lim = false
local lt = redis.call('TYPE', KEYS[2]).ok
if lt == 'string' then lim = redis.call('GET', KEYS[2]) elseif lt ~= 'none' then lim = 'not a string: ' .. lt end
local g = grant_of(KEYS[3])
local rel = grant_of(KEYS[4])
local id = identity()
if t == 'none' then return {t, -2, false, lim, g, rel, id} end
local pttl = redis.call('PTTL', KEYS[1])
if t == 'string' then return {t, pttl, redis.call('GET', KEYS[1]), lim, g, rel, id} end
return {t, pttl, redis.call('DUMP', KEYS[1]), lim, g, rel, id}
