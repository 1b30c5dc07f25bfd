-- The revision counter KEYS[2], then up to ARGV[3] keys of the index KEYS[1] from ARGV[1]
-- (inclusive) to ARGV[2] (exclusive), each followed by its stored value (tag and data) under
-- the prefix ARGV[4]: one round trip for what would be three.
local out = {redis.call('GET', KEYS[2]) or '0'}
local keys = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[1], '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
if #keys == 0 then
  return out
end
local names = {}
for i, key in ipairs(keys) do
  names[i] = ARGV[4] .. key
end
local values = redis.call('MGET', unpack(names))
for i, key in ipairs(keys) do
  out[2 * i] = key
  out[2 * i + 1] = values[i]
end
return out
