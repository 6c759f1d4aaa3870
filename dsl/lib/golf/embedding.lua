-- Embedding: rows of a [num, dim] table looked up by integer ids; tied_head(x) reuses the table
-- as the output projection (logits = x·Eᵀ).
local core = require "golf.core"
local module = require "golf.module"

local Embedding = module.class("Embedding")

function Embedding:init(num, dim, opts)
  opts = opts or {}
  self.num, self.dim = num, dim
  self.weight = module.parameter({ num, dim }, opts.init or module.init.normal(opts.std or 1.0))
end

function Embedding:forward(ids)
  return core.embedding(self.weight, ids)
end

function Embedding:tied_head(x)
  return core.linear(x, self.weight)
end

return Embedding
