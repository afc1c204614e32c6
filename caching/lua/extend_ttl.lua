-- Extend the remaining lifetime of cached model values (invalidation rule action "extend_ttl"),
-- and keep the provider / tag index sets that list them alive at least as long: an entry that
-- outlived its index set would be missed by a later provider or tag invalidation.
-- Entries not cached under the current generation are skipped; a lifetime is never shortened.
-- KEYS[1] namespace generation key
-- ARGV[1] key prefix  ARGV[2] seconds to add  ARGV[3] cap on the new lifetime (0 = none)
-- ARGV[4..] groups of: model key, n, then n index names ("ip:<provider>", "it:<tag>")
local gen = redis.call('GET', KEYS[1]) or '0'
local base = ARGV[1] .. ':' .. gen .. ':'
local add = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local extended = 0
local i = 4
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  local value_key = base .. 'm:' .. ARGV[i]
  local ttl = redis.call('TTL', value_key)
  if ttl > 0 then
    local new = ttl + add
    if cap > 0 and new > cap then new = cap end
    if new > ttl then
      redis.call('EXPIRE', value_key, new)
      extended = extended + 1
      for j = i + 2, i + 1 + n do
        local set_key = base .. ARGV[j]
        local set_ttl = redis.call('TTL', set_key)
        if set_ttl >= 0 and set_ttl < new then redis.call('EXPIRE', set_key, new) end
      end
    end
  end
  i = i + 2 + n
end
return extended
