-- Up to ARGV[3] keys of the index KEYS[1] from ARGV[1] (inclusive) to ARGV[2] (exclusive),
-- each followed by its stored value (tag and data) under the prefix ARGV[4]: one round trip
-- for what would be two.
local keys = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[1], '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
if #keys == 0 then
  return {}
end
local names = {}
for i, key in ipairs(keys) do
  names[i] = ARGV[4] .. key
end
local values = redis.call('MGET', unpack(names))
local out = {}
for i, key in ipairs(keys) do
  out[2 * i - 1] = key
  out[2 * i] = values[i]
end
return out
