-- Linear: y = x·Wᵀ, W [out, in], no bias. Default init is PyTorch's nn.Linear one,
-- U(−1/√in, 1/√in); zero_init = true for output projections (the baseline's _zero_init).
local core = require "golf.core"
local module = require "golf.module"

local Linear = module.class("Linear")

function Linear:init(in_features, out_features, opts)
  opts = opts or {}
  self.in_features, self.out_features = in_features, out_features
  local init = opts.init
  if init == nil then
    init = opts.zero_init and module.init.zeros() or module.init.uniform(1 / math.sqrt(in_features))
  end
  self.weight = module.parameter({ out_features, in_features }, init)
end

function Linear:forward(x)
  return core.linear(x, self.weight)
end

return Linear
