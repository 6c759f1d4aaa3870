-- SpectralBlock: the Fractal Compressor's transformer block (SEEDS.md §4), every matrix spectral:
--   x ← x + a⊙Attn(RMSN(x)),  x ← x + m⊙MLP(RMSN(x))     (attn_scale a, mlp_scale m, init 1)
-- Attention as nn.Attention (q/k RMSNorm per head, partial RoPE, per-head q gain, causal GQA) with
-- q from the SharedProjector, k, v and the output projection SpectralLinear; MLP relu²(up(x)) with
-- up from the same SharedProjector and a SpectralLinear down projection. The output projections'
-- coefficients start at zero.
-- Reads cfg: dim, heads, kv_heads, mlp, rho, rope_dims, rope_base, seq_len, qk_gain, norm_eps.
local core = require "golf.core"
local module = require "golf.module"
local spectral = require "golf.spectral"
local RMSNorm = require "golf.rms_norm"

local SpectralBlock = module.class("SpectralBlock")

function SpectralBlock:init(cfg, bases)
  local D, H, Hkv = cfg.dim, cfg.heads, cfg.kv_heads
  assert(D % H == 0, ("SpectralBlock: dim %d is not a multiple of heads %d"):format(D, H))
  assert(H % Hkv == 0, ("SpectralBlock: kv_heads %d does not divide heads %d"):format(Hkv, H))
  self.dim, self.heads, self.kv_heads, self.head_dim = D, H, Hkv, D // H
  local kv_dim, opts = Hkv * self.head_dim, { rho = cfg.rho, bases = bases }
  self.eps = cfg.norm_eps or RMSNorm.default_eps
  self.shared = spectral.SharedProjector(D, cfg.mlp * D, opts)
  self.c_k = spectral.SpectralLinear(D, kv_dim, opts)
  self.c_v = spectral.SpectralLinear(D, kv_dim, opts)
  self.proj = spectral.SpectralLinear(D, D, { rho = cfg.rho, bases = bases, zero_init = true })
  self.down = spectral.SpectralLinear(cfg.mlp * D, D, { rho = cfg.rho, bases = bases, zero_init = true })
  self.q_gain = module.parameter({ H }, module.init.constant(cfg.qk_gain or 1.5))
  self.attn_scale = module.parameter({ D }, module.init.ones())
  self.mlp_scale = module.parameter({ D }, module.init.ones())
  self.rope = { dims = cfg.rope_dims or self.head_dim, base = cfg.rope_base or 10000, train_len = cfg.seq_len or 0 }
end

function SpectralBlock:attention(x)
  local B, T = x:size(1), x:size(2)
  local H, Hkv, hd = self.heads, self.kv_heads, self.head_dim
  local q = core.rms_norm(self.shared:q(x):reshape(B, T, H, hd), self.eps)
  local k = core.rms_norm(self.c_k(x):reshape(B, T, Hkv, hd), self.eps)
  local v = self.c_v(x):reshape(B, T, Hkv, hd)
  q = core.rope(q, self.rope) * self.q_gain:reshape(H, 1)
  k = core.rope(k, self.rope)
  local y = core.attention(q, k, v, {})
  return self.proj(y:reshape(B, T, self.dim))
end

function SpectralBlock:forward(x)
  x = x + self.attn_scale * self:attention(core.rms_norm(x, self.eps))
  local h = core.square(core.relu(self.shared:up_proj(core.rms_norm(x, self.eps))))
  return x + self.mlp_scale * self.down(h)
end

return SpectralBlock
