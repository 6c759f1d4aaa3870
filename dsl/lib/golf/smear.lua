-- SmearGate (PARAMETER_GOLF.md): mixes each position with the previous one.
--   form "channel": x_t ← (1−σ(w))⊙x_t + σ(w)⊙x_{t−1}, w [dim] init 0
--   form "gate":    x_t ← x_t + λ·σ(W·x_t[:k])·x_{t−1}·1[token_t ≠ BOS], W [1, k] and λ init 0;
--                   the mask tests the token id, so a document's first token never sees the
--                   previous document's last one.
--   nn.SmearGate{ dim = 512, form = "channel" | "gate", k = 12, bos = 1 }
-- x_{t−1} is 0 at t = 0 (token_shift); in decode mode token_shift carries the previous step's x.
local core = require "golf.core"
local module = require "golf.module"

local SmearGate = module.class("SmearGate")

function SmearGate:init(o)
  assert(o and o.dim, "nn.SmearGate needs { dim = ... }")
  self.form = o.form or "channel"
  assert(self.form == "channel" or self.form == "gate", "nn.SmearGate: form is \"channel\" or \"gate\"")
  if self.form == "channel" then
    self.gate = module.parameter({ o.dim }, module.init.zeros())
  else
    self.k = math.min(o.k or 12, o.dim)
    self.bos = o.bos or 1
    self.gate = module.parameter({ 1, self.k }, module.init.zeros())
    self.lambda = module.parameter({ 1 }, module.init.zeros())
  end
end

-- x [B, T, D]; tokens [B, T] (the "gate" form's mask)
function SmearGate:forward(x, tokens)
  local prev = core.token_shift(x, 1)
  if self.form == "channel" then
    local g = core.sigmoid(self.gate)
    return x + g * (prev - x)
  end
  assert(tokens, "nn.SmearGate (form \"gate\") needs the token ids: smear(x, tokens)")
  local g = core.sigmoid(core.linear(x:narrow(3, 1, self.k), self.gate))  -- [B, T, 1]
  local d = core.to_real(tokens) - self.bos
  local not_bos = 1 - core.step(0.5 - d * d)                              -- ids are integers
  return x + self.lambda * (g * prev) * not_bos:reshape(x:size(1), x:size(2), 1)
end

return SmearGate
