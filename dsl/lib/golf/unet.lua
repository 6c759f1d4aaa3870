-- U-Net skips over a stack of L blocks: the first ⌊L/2⌋ push their outputs; each later block
-- first adds skip_weight ⊙ pop() while the stack is non-empty (LIFO), then runs.
--   nn.UNet(L, function(i) return nn.Block(cfg, i) end, { dim = D, gated = false,
--                                                         order = nil, parallel_from = nil })
-- Gated skips: x ← g⊙x + (1−g)⊙(w⊙skip), g = σ(skip_gates), gates init 0.
-- order (depth recurrence): the 0-based blocks to run, in order, as virtual layers, e.g.
--   { 0, 1, 2, 3, 4, 5, 3, 4, 5, 3, 4, 5, 6, 7, 8, 9, 10 } runs blocks 3–5 three times; the
--   U-Net halves and skips are over the virtual layers (the first ⌊#order/2⌋ push).
-- parallel_from = P (parallel residuals): from the first virtual layer whose block is >= P on,
--   x splits into two lanes (both start as x); skips go into lane 0; each block runs as
--   Block:parallel with its row of parallel_resid [L, 2] (init 1.1) and parallel_post [L, 2, 2]
--   (init 1); the output is the mean of the lanes. Every later virtual layer must be >= P too.
-- The blocks are the module's children "0" .. "L-1"; it owns skip_weights [min(⌊V/2⌋, V−⌊V/2⌋), D]
-- (V the number of virtual layers).
-- run_order (depth recurrence switched on during training): the virtual layers this graph runs,
--   when not `order` (which still fixes the parameters): e.g. 0 .. L−1 before the loop is on, as
--   the record runs its unlooped graph. Its own halves and skips (the first ⌊#run_order/2⌋ push;
--   decoder layer j uses row j of skip_weights), so it may have no more skips than `order`.
local core = require "golf.core"
local module = require "golf.module"

local UNet = module.class("UNet", module.List)

function UNet:init(n, make, opts)
  assert(opts and opts.dim, "nn.UNet needs { dim = ... }")
  module.List.init(self, n, make)
  local order = opts.order
  if not order then
    order = {}
    for i = 0, n - 1 do order[#order + 1] = i end
  end
  for k, b in ipairs(order) do
    assert(math.type(b) == "integer" and b >= 0 and b < n,
           ("nn.UNet: order[%d] = %s is not a block index in 0 .. %d"):format(k, tostring(b), n - 1))
  end
  self.order = order
  self.encoders = #order // 2
  local skips = math.min(self.encoders, #order - self.encoders)
  local run = opts.run_order or order
  for k, b in ipairs(run) do
    assert(math.type(b) == "integer" and b >= 0 and b < n,
           ("nn.UNet: run_order[%d] = %s is not a block index in 0 .. %d"):format(k, tostring(b), n - 1))
  end
  assert(math.min(#run // 2, #run - #run // 2) <= skips,
         ("nn.UNet: run_order has %d skips, order only %d"):format(math.min(#run // 2, #run - #run // 2), skips))
  self.run_order = run
  self.run_encoders = #run // 2
  if skips > 0 then
    self.skip_weights = module.parameter({ skips, opts.dim }, module.init.ones())
    if opts.gated then self.skip_gates = module.parameter({ skips, opts.dim }, module.init.zeros()) end
  end
  self.gated = opts.gated or false
  self.parallel_from = opts.parallel_from
  if self.parallel_from then
    for _, o in ipairs({ { order, self.encoders }, { run, self.run_encoders } }) do
      local started = false
      for k, b in ipairs(o[1]) do
        if b >= self.parallel_from then
          assert(k > o[2], ("nn.UNet: parallel block %d is in the encoder half (virtual layer %d)"):format(b, k - 1))
          started = true
        else
          assert(not started, ("nn.UNet: block %d (virtual layer %d) follows a parallel block but is below parallel_from %d")
                              :format(b, k - 1, self.parallel_from))
        end
      end
    end
    self.parallel_resid = module.parameter({ n, 2 }, module.init.constant(1.1))
    self.parallel_post = module.parameter({ n, 2, 2 }, module.init.ones())
  end
end

-- extra_v (optional): { [block index, 0-based] = tensor added to that block's v } (nn.ValueEmbedding)
function UNet:forward(x, x0, extra_v)
  extra_v = extra_v or {}
  local stack = {}
  local order, encoders = self.run_order, self.run_encoders
  for k = 1, encoders do
    local b = order[k]
    x = self[b + 1](x, x0, extra_v[b])
    stack[#stack + 1] = x
  end
  local lane1
  for j = 1, #order - encoders do
    local b = order[encoders + j]
    local parallel = self.parallel_from and b >= self.parallel_from
    if parallel and not lane1 then lane1 = x end
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
    if parallel then
      assert(not extra_v[b], "nn.UNet: a value embedding on a parallel block is not supported")
      local r = self.parallel_resid:narrow(1, b + 1, 1):reshape(2)
      local p = self.parallel_post:narrow(1, b + 1, 1):reshape(2, 2)
      x, lane1 = self[b + 1]:parallel(x, lane1, x0, r, p)
    else
      x = self[b + 1](x, x0, extra_v[b])
    end
  end
  if lane1 then x = (x + lane1) * 0.5 end
  return x
end

return UNet
