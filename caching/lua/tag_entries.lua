-- Add model keys to a named index set (invalidation rule action "tag"), so that
-- invalidate_indexes(tags={name}) drops them together later. The set lives at least as long as
-- its longest-lived member, and at least ARGV[3] seconds (never without an expiry).
-- KEYS[1] namespace generation key
-- ARGV[1] key prefix  ARGV[2] index name ("it:<name>")  ARGV[3] minimum lifetime  ARGV[4..] model keys
local gen = redis.call('GET', KEYS[1]) or '0'
local base = ARGV[1] .. ':' .. gen .. ':'
local set_key = base .. ARGV[2]
local ttl = tonumber(ARGV[3])
local added = 0
for i = 4, #ARGV do
  added = added + redis.call('SADD', set_key, ARGV[i])
  local member_ttl = redis.call('TTL', base .. 'm:' .. ARGV[i])
  if member_ttl > ttl then ttl = member_ttl end
end
if redis.call('TTL', set_key) < ttl then redis.call('EXPIRE', set_key, ttl) end
return added
