#!lua flags=allow-oom
-- Invalidate every model in one or more index sets (a provider's, or tags'): O(members).
-- Deletes each member's value and bumps its fence, drops the sets, bumps the list generation
-- and returns the members so the caller can tell every process to drop its L1 copies.
-- KEYS[1] namespace generation key  KEYS[2] list generation key
-- ARGV[1] key prefix  ARGV[2..] index names, as "ip:<provider>" or "it:<tag>"
local gen = redis.call('GET', KEYS[1]) or '0'
local prefix = ARGV[1]
local seen = {}
local members = {}
for i = 2, #ARGV do
  local set_key = prefix .. ':' .. gen .. ':' .. ARGV[i]
  for _, member in ipairs(redis.call('SMEMBERS', set_key)) do
    if not seen[member] then
      seen[member] = true
      members[#members + 1] = member
      redis.call('DEL', prefix .. ':' .. gen .. ':m:' .. member)
      redis.call('INCR', prefix .. ':g:' .. member)
    end
  end
  redis.call('DEL', set_key)
end
redis.call('INCR', KEYS[2])
return members
