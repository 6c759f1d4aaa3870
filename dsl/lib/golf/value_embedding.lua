-- Value embedding (PARAMETER_GOLF.md "VE"): a shared table [vocab, dim] → Linear dim→(Hkv·hd) →
-- ×0.1 → × a learned scalar per layer that uses it, added to that layer's v.
--   nn.ValueEmbedding{ vocab = 1024, dim = 128, kv_heads = 4, head_dim = 64, layers = { 2, 3 }, std = 1 }
-- forward(tokens) returns { [layer] = [B, T, Hkv, hd] } for the listed (0-based) layers, the
-- table nn.UNet and nn.Block take as their extra v.
local module = require "golf.module"
local Linear = require "golf.linear"
local Embedding = require "golf.embedding"

local ValueEmbedding = module.class("ValueEmbedding")

function ValueEmbedding:init(o)
  assert(o and o.vocab and o.kv_heads and o.head_dim and o.layers, "nn.ValueEmbedding needs vocab, kv_heads, head_dim, layers")
  self.kv_heads, self.head_dim, self.layers = o.kv_heads, o.head_dim, o.layers
  self.embed = Embedding(o.vocab, o.dim or 128, { std = o.std or 1.0 })
  self.proj = Linear(o.dim or 128, o.kv_heads * o.head_dim)
  self.scales = module.parameter({ #o.layers }, module.init.ones())
end

function ValueEmbedding:forward(tokens)
  local B, T = tokens:size(1), tokens:size(2)
  local v = self.proj(self.embed(tokens)) * 0.1
  local out = {}
  for i, layer in ipairs(self.layers) do
    out[layer] = (v * self.scales:narrow(1, i, 1)):reshape(B, T, self.kv_heads, self.head_dim)
  end
  return out
end

return ValueEmbedding
