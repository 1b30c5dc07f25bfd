-- Commits a transaction if what it read is unchanged; returns 1, or 0 when it lost a race.
-- KEYS: the index, the revision counter, the change stream.
-- ARGV: data prefix, client id, change payload, stream length, and the revision every read
-- saw ('' when they saw more than one); then the keys read, each with the tag it had (''
-- when absent); then the ranges scanned, each as start, end, limit and the keys found with
-- their tags; then the writes, 'p' key value or 'd' key.
local prefix = ARGV[1]
local i = 6
local function tag_of(key)
  -- Every stored value starts with its 8-byte tag: '' is an absent key.
  return redis.call('GETRANGE', prefix .. key, 0, 7)
end
-- No commit since the reads, which all saw one revision: they all still hold.
local unchanged = ARGV[5] ~= '' and (redis.call('GET', KEYS[2]) or '0') == ARGV[5]
for _ = 1, tonumber(ARGV[i]) do
  if not unchanged and tag_of(ARGV[i + 1]) ~= ARGV[i + 2] then
    return 0
  end
  i = i + 2
end
i = i + 1
for _ = 1, tonumber(ARGV[i]) do
  local count = tonumber(ARGV[i + 4])
  if not unchanged then
    local keys = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[i + 1], '(' .. ARGV[i + 2], 'LIMIT', 0, tonumber(ARGV[i + 3]))
    if #keys ~= count then
      return 0
    end
    for j = 1, count do
      if keys[j] ~= ARGV[i + 3 + 2 * j] or tag_of(keys[j]) ~= ARGV[i + 4 + 2 * j] then
        return 0
      end
    end
  end
  i = i + 4 + 2 * count
end
i = i + 1
local writes = tonumber(ARGV[i])
if writes == 0 then
  return 1
end
-- What can fail (a key of the wrong type) fails before any write is applied.
local tag = struct.pack('>I8', redis.call('INCR', KEYS[2]))
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'c', ARGV[2], 'k', ARGV[3])
for _ = 1, writes do
  local key = ARGV[i + 2]
  if ARGV[i + 1] == 'p' then
    redis.call('ZADD', KEYS[1], 0, key)
    redis.call('SET', prefix .. key, tag .. ARGV[i + 3])
    i = i + 3
  else
    redis.call('ZREM', KEYS[1], key)
    redis.call('DEL', prefix .. key)
    i = i + 2
  end
end
return 1
