#!lua flags=allow-oom
-- Bump the namespace generation (orphaning every value, reference and index key of the old one
-- at once) and the list generation (so no cached list page from before survives either). Used by
-- invalidate-all and by the recovery after a Redis outage. allow-oom: like invalidation, it must
-- work when Redis is out of memory (noeviction), or entries from before the outage would be
-- served again (a plain INCR is refused under OOM).
-- KEYS[1] namespace generation key  KEYS[2] list generation key
redis.call('INCR', KEYS[2])
return redis.call('INCR', KEYS[1])
