-- Guarded fill of one model entry (compare-and-set on the namespace generation and the
-- model's fence): a reader that read fence F before loading from the database stores its value
-- only if no invalidation happened since, so a slow reader cannot put an older row back.
-- KEYS[1] namespace generation key   KEYS[2] model fence key
-- KEYS[3] value key                  KEYS[4] id key
-- KEYS[5..] provider / tag index sets
-- ARGV[1] expected generation   ARGV[2] expected fence ("" = absent)
-- ARGV[3] payload               ARGV[4] ttl seconds
-- ARGV[5] model key
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] then return 0 end
local ttl = tonumber(ARGV[4])
redis.call('SET', KEYS[3], ARGV[3], 'EX', ttl)
redis.call('SET', KEYS[4], ARGV[5], 'EX', ttl)
for i = 5, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[5])
  if redis.call('TTL', KEYS[i]) < ttl then redis.call('EXPIRE', KEYS[i], ttl) end
end
return 1
