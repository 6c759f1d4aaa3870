-- The linear combiner on a frozen base (SEEDS.md §3, docs/seeds.md "Linear combiner"):
--   h' = (1 + α)·h + M·T_1 + β
-- h the base's final-RMSNorm output at a window's last position, T_1 the final-RMSNorm output of
-- one extra "thinking" position fed RMSNorm(h) as its input embedding. α [1], M [D, D], β [D] start
-- at zero, so an unfitted combiner is the base bit for bit: (1 + 0)·h = h, M·T_1 = 0, + 0.
--   m.combiner = nn.Combiner(D); m.combiner:declare()   -- in graphs that do not apply it
local core = require "golf.core"
local module = require "golf.module"

local Combiner = module.class("Combiner")

function Combiner:init(dim)
  self.dim = dim
  self.alpha = module.parameter({ 1 }, module.init.zeros())
  self.M = module.parameter({ dim, dim }, module.init.zeros())
  self.beta = module.parameter({ dim }, module.init.zeros())
end

-- Declares the parameters in a graph that does not use them (the base's training and eval
-- graphs), so every weight set, checkpoint and artifact carries them.
function Combiner:declare()
  return self.alpha, self.M, self.beta
end

-- h, t1: [..., D]
function Combiner:forward(h, t1)
  return h * (self.alpha + 1) + core.linear(t1, self.M) + self.beta
end

return Combiner
