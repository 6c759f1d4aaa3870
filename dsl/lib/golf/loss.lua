-- The head's last steps: softcap(z) = c·tanh(z/c), and cross entropy per token. cross_entropy
-- takes the raw logits and applies the softcap inside the fused op (one pass over the vocab).
local core = require "golf.core"

local loss = {}

function loss.softcap(x, c)
  if not c or c == 0 then return x end
  return core.tanh(x / c) * c
end

-- logits [..., V], targets [...] (integer) -> per-token loss [N]
function loss.cross_entropy(logits, targets, softcap)
  local V = logits:size(-1)
  return core.cross_entropy(logits:reshape(-1, V), targets:reshape(-1), softcap or 0)
end

return loss
