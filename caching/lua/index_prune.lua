#!lua flags=allow-oom
-- Drop dangling members of one provider/tag index set: members whose value key no longer
-- exists (expired or invalidated). Atomic per call, so a concurrent guarded fill (which writes
-- the value and adds the member in one script) is never undone: a member is removed only if,
-- at this instant, its value is absent. allow-oom: it only frees memory.
-- KEYS[1] index set key
-- ARGV[1] value key prefix ("<prefix>:<generation>:m:")  ARGV[2..] members to check
local removed = 0
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then
    removed = removed + redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return removed
