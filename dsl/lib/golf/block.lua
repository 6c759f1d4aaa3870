-- The baseline's transformer block:
--   x ← m₀⊙x + m₁⊙x0                         (resid_mix, init (1, 0); x0 = the normalized embedding)
--   x ← x + a⊙Attn(norm(x)·s)                 (attn_scale a, init 1)
--   x ← x + m⊙MLP(norm(x)·s)                  (mlp_scale m, init 1)
-- with s = 1/√(layer+1) when cfg.ln_scale is set (LN scale), else 1.
-- Reads cfg: dim, heads, kv_heads, mlp (multiplier), rope_base, rope_dims, qk_gain, norm_eps,
-- seq_len (RoPE's train length), activation, leaky_slope, ln_scale, attn_gate ("sparse" |
-- "dense"), gate_window, attn_gate_scale. opts.xsa turns XSA on.
-- Block:parallel(lane0, lane1, x0, r, p) is the same block as two lanes (parallel residuals, see
-- golf/unet.lua): attention reads m₀⊙lane0 + m₁⊙x0, the MLP reads lane1, and
--   lane0 ← r₀·lane0 + p₀₀·a⊙Attn + p₁₀·m⊙MLP,   lane1 ← r₁·lane1 + p₀₁·a⊙Attn + p₁₁·m⊙MLP
-- with r [2] and p [2, 2] (row 1 the attention's, row 2 the MLP's) owned by the caller.
local core = require "golf.core"
local module = require "golf.module"
local Attention = require "golf.attention"
local MLP = require "golf.mlp"
local RMSNorm = require "golf.rms_norm"

local Block = module.class("Block")

function Block:init(cfg, layer, opts)
  opts = opts or {}
  local D = cfg.dim
  self.eps = cfg.norm_eps or RMSNorm.default_eps
  self.attn = Attention {
    dim = D, heads = cfg.heads, kv_heads = cfg.kv_heads, rope_base = cfg.rope_base, rope_dims = cfg.rope_dims,
    train_len = cfg.seq_len, q_gain = cfg.qk_gain, eps = self.eps, xsa = opts.xsa,
    gate = cfg.attn_gate, gate_window = cfg.gate_window, gate_scale = cfg.attn_gate_scale,
  }
  self.mlp = MLP(D, (cfg.mlp or 4) * D, { act = cfg.activation, slope = cfg.leaky_slope })
  self.attn_scale = module.parameter({ D }, module.init.ones())
  self.mlp_scale = module.parameter({ D }, module.init.ones())
  self.resid_mix = module.parameter({ 2, D }, module.init.fill(function(row) return row == 1 and 1 or 0 end))
  self.ln_scale = cfg.ln_scale and 1 / math.sqrt(layer + 1) or nil
end

function Block:norm(x)
  local h = core.rms_norm(x, self.eps)
  if self.ln_scale then h = h * self.ln_scale end
  return h
end

-- extra_v: added to the attention's v (a value embedding), [B, T, kv_heads, head_dim]
function Block:forward(x, x0, extra_v)
  local mix = self.resid_mix
  x = mix:narrow(1, 1, 1) * x + mix:narrow(1, 2, 1) * x0
  x = x + self.attn_scale * self.attn(self:norm(x), extra_v)
  x = x + self.mlp_scale * self.mlp(self:norm(x))
  return x
end

function Block:parallel(lane0, lane1, x0, r, p)
  local mix = self.resid_mix
  local attn_in = mix:narrow(1, 1, 1) * lane0 + mix:narrow(1, 2, 1) * x0
  local a = self.attn_scale * self.attn(self:norm(attn_in))
  local m = self.mlp_scale * self.mlp(self:norm(lane1))
  local function pp(i, j) return p:narrow(1, i, 1):narrow(2, j, 1):reshape(1) end
  local new0 = r:narrow(1, 1, 1) * lane0 + pp(1, 1) * a + pp(2, 1) * m
  local new1 = r:narrow(1, 2, 1) * lane1 + pp(1, 2) * a + pp(2, 2) * m
  return new0, new1
end

return Block
