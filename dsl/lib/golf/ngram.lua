-- Hashed n-gram input embedding (PARAMETER_GOLF.md "BigramHash" / "TrigramHash"): each position's
-- n-gram of token ids picks a bucket of a [buckets, dim] table (zero-init), projected to the
-- model width (zero-init) and scaled by a learned scalar (init 0.05); added to the token
-- embedding before the embedding RMSNorm.
--   nn.NgramHash{ n = 2, buckets = 2048, dim = 128, out = 512, scale = 0.05,
--                 hash = "mult" | "xxh3", primes = { 36313, 27191, 51647 }, seed = 0,
--                 share = other_ngram }   -- share: use another NgramHash's table (and only it)
local core = require "golf.core"
local module = require "golf.module"
local Linear = require "golf.linear"

local NgramHash = module.class("NgramHash")

function NgramHash:init(o)
  assert(o and o.out, "nn.NgramHash needs { out = model width, ... }")
  self.hash = { n = o.n or 2, buckets = o.buckets or 2048, hash = o.hash or "mult", primes = o.primes, seed = o.seed or 0 }
  if o.share then
    -- Not a child: the table keeps its one name under the module that owns it.
    assert(o.share.hash.buckets == self.hash.buckets, "nn.NgramHash: a shared table needs the same bucket count")
    rawset(self, "shared", o.share)
    self.dim = o.share.dim
  else
    self.dim = o.dim or 128
    self.table = module.parameter({ self.hash.buckets, self.dim }, module.init.zeros())
  end
  self.proj = Linear(self.dim, o.out, { zero_init = true })
  self.scale = module.parameter({ 1 }, module.init.constant(o.scale or 0.05))
end

function NgramHash:forward(tokens)
  local owner = rawget(self, "shared") or self
  local ids = core.ngram_hash(tokens, self.hash)
  return self.proj(core.embedding(owner.table, ids)) * self.scale
end

return NgramHash
