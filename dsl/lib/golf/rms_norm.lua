-- RMSNorm without gain: x / √(mean(x²) + eps) over the last dim. The default eps is
-- float32's machine epsilon, what torch's F.rms_norm uses when given none (as the baseline does).
local core = require "golf.core"
local module = require "golf.module"

local RMSNorm = module.class("RMSNorm")
RMSNorm.default_eps = 1.1920928955078125e-07

function RMSNorm:init(opts)
  self.eps = (opts and opts.eps) or RMSNorm.default_eps
end

function RMSNorm:forward(x)
  return core.rms_norm(x, self.eps)
end

return RMSNorm
