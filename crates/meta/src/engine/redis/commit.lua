-- Commits a transaction if what it read is unchanged; returns 1, or 0 when it lost a race.
-- KEYS: the index, the revision counter, the change stream.
-- ARGV: data prefix, client id, change payload, stream length; then the keys read, each with
-- the tag it had ('' when absent); then the ranges scanned, each as start, end, limit and
-- the keys found with their tags; then the writes, 'p' key value or 'd' key.
local prefix = ARGV[1]
local i = 5
local function tag_of(key)
  local value = redis.call('GET', prefix .. key)
  if value then
    return string.sub(value, 1, 8)
  end
  return ''
end
for _ = 1, tonumber(ARGV[i]) do
  if tag_of(ARGV[i + 1]) ~= ARGV[i + 2] then
    return 0
  end
  i = i + 2
end
i = i + 1
for _ = 1, tonumber(ARGV[i]) do
  local count = tonumber(ARGV[i + 4])
  local keys = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[i + 1], '(' .. ARGV[i + 2], 'LIMIT', 0, tonumber(ARGV[i + 3]))
  if #keys ~= count then
    return 0
  end
  i = i + 4
  for j = 1, count do
    if keys[j] ~= ARGV[i + 1] or tag_of(keys[j]) ~= ARGV[i + 2] then
      return 0
    end
    i = i + 2
  end
end
i = i + 1
local writes = tonumber(ARGV[i])
if writes == 0 then
  return 1
end
local tag = struct.pack('>I8', redis.call('INCR', KEYS[2]))
for _ = 1, writes do
  local key = ARGV[i + 2]
  if ARGV[i + 1] == 'p' then
    redis.call('SET', prefix .. key, tag .. ARGV[i + 3])
    redis.call('ZADD', KEYS[1], 0, key)
    i = i + 3
  else
    redis.call('DEL', prefix .. key)
    redis.call('ZREM', KEYS[1], key)
    i = i + 2
  end
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'c', ARGV[2], 'k', ARGV[3])
return 1
