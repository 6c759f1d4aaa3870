-- MLP: proj(act(fc(x))), hidden = mult·dim; act is "relu2" (relu², the baseline's),
-- "leaky_relu2" (leaky_relu(slope)²), "gelu" or "silu". The output projection starts at zero.
local core = require "golf.core"
local module = require "golf.module"
local Linear = require "golf.linear"

local MLP = module.class("MLP")

local activations = {
  relu2 = function(h) return core.square(core.relu(h)) end,
  leaky_relu2 = function(h, slope) return core.square(core.leaky_relu(h, slope)) end,
  gelu = function(h) return core.gelu(h) end,
  silu = function(h) return core.silu(h) end,
}

function MLP:init(dim, hidden, opts)
  opts = opts or {}
  self.act = opts.act or "relu2"
  assert(activations[self.act], "unknown MLP activation '" .. tostring(self.act) .. "' (relu2, leaky_relu2, gelu, silu)")
  self.slope = opts.slope or 0.5
  self.fc = Linear(dim, hidden)
  self.proj = Linear(hidden, dim, { zero_init = true })
end

function MLP:forward(x)
  return self.proj(activations[self.act](self.fc(x), self.slope))
end

return MLP
