#!lua flags=allow-oom
-- Invalidate models: for each model key delete its value under the *current* namespace
-- generation (read here, so a writer with an outdated generation still hits the live entry),
-- bump its fence (failing any in-flight guarded fill), bump the list generation and publish
-- the keys so every process drops its L1 copy. allow-oom: invalidation must work when Redis
-- is out of memory (noeviction), or stale values would outlive the outage.
-- KEYS[1] namespace generation key  KEYS[2] list generation key
-- ARGV[1] key prefix  ARGV[2] channel  ARGV[3] message  ARGV[4..] model keys
local gen = redis.call('GET', KEYS[1]) or '0'
local prefix = ARGV[1]
for i = 4, #ARGV do
  redis.call('DEL', prefix .. ':' .. gen .. ':m:' .. ARGV[i])
  redis.call('INCR', prefix .. ':g:' .. ARGV[i])
end
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return #ARGV - 3
