-- U-Net skips over a stack of L blocks: the first ⌊L/2⌋ push their outputs; each later block
-- first adds skip_weight ⊙ pop() while the stack is non-empty (LIFO), then runs.
--   nn.UNet(L, function(i) return nn.Block(cfg, i) end, { dim = D, gated = false })
-- Gated skips: x ← g⊙x + (1−g)⊙(w⊙skip), g = σ(skip_gates), gates init 0.
-- The blocks are the module's children "0" .. "L-1"; it owns skip_weights [min(⌊L/2⌋, L−⌊L/2⌋), D].
local core = require "golf.core"
local module = require "golf.module"

local UNet = module.class("UNet", module.List)

function UNet:init(n, make, opts)
  assert(opts and opts.dim, "nn.UNet needs { dim = ... }")
  module.List.init(self, n, make)
  self.encoders = n // 2
  local skips = math.min(self.encoders, n - self.encoders)
  if skips > 0 then
    self.skip_weights = module.parameter({ skips, opts.dim }, module.init.ones())
    if opts.gated then self.skip_gates = module.parameter({ skips, opts.dim }, module.init.zeros()) end
  end
  self.gated = opts.gated or false
end

-- extra_v (optional): { [block index, 0-based] = tensor added to that block's v } (nn.ValueEmbedding)
function UNet:forward(x, x0, extra_v)
  extra_v = extra_v or {}
  local stack = {}
  for i = 1, self.encoders do
    x = self[i](x, x0, extra_v[i - 1])
    stack[#stack + 1] = x
  end
  for j = 1, #self - self.encoders do
    if #stack > 0 then
      local w = self.skip_weights:narrow(1, j, 1)
      local skip = w * table.remove(stack)
      if self.gated then
        local g = core.sigmoid(self.skip_gates:narrow(1, j, 1))
        x = g * x + (1 - g) * skip
      else
        x = x + skip
      end
    end
    x = self[self.encoders + j](x, x0, extra_v[self.encoders + j - 1])
  end
  return x
end

return UNet
