-- Causal self-attention with grouped KV heads (kv_heads divides heads), RMSNorm of q and k per
-- head, partial RoPE (the first rope_dims of each head, NTK-rescaled beyond train_len), a learned
-- per-head q gain, optional XSA (exclusive self attention) and an optional per-head output gate.
--   nn.Attention{ dim = 512, heads = 8, kv_heads = 4, rope_dims = 64, rope_base = 10000,
--                 train_len = 1024, q_gain = 1.5 (false: none), qk_norm = true, xsa = false, eps = ...,
--                 gate = false | "sparse" | "dense", gate_window = 12, gate_scale = 1 }
-- Output gate (on each head's output, after XSA, before proj), g_{t,h} = σ(s·W_g[h]·u_t):
--   "sparse": u_t = x_t[:gate_window], W_g [heads, gate_window] zero-initialized (g = ½ at init);
--   "dense":  u_t = x_t, W_g [heads, dim] ~ N(0, 0.01²) (gated attention, arXiv:2505.06708).
-- x is the attention's input (the block's normalized residual).
local core = require "golf.core"
local module = require "golf.module"
local Linear = require "golf.linear"
local RMSNorm = require "golf.rms_norm"

local Attention = module.class("Attention")

function Attention:init(o)
  assert(o.dim and o.heads, "nn.Attention needs dim and heads")
  self.dim, self.heads, self.kv_heads = o.dim, o.heads, o.kv_heads or o.heads
  assert(o.dim % o.heads == 0, ("dim %d is not a multiple of heads %d"):format(o.dim, o.heads))
  assert(self.heads % self.kv_heads == 0, ("kv_heads %d does not divide heads %d"):format(self.kv_heads, self.heads))
  self.head_dim = o.dim // o.heads
  local kv_dim = self.kv_heads * self.head_dim
  self.c_q = Linear(o.dim, o.dim)
  self.c_k = Linear(o.dim, kv_dim)
  self.c_v = Linear(o.dim, kv_dim)
  self.proj = Linear(o.dim, o.dim, { zero_init = true })
  self.use_q_gain = o.q_gain ~= false
  if self.use_q_gain then
    self.q_gain = module.parameter({ self.heads }, module.init.constant(o.q_gain or 1.5))
  end
  self.rope = { dims = o.rope_dims or self.head_dim, base = o.rope_base or 10000, train_len = o.train_len or 0 }
  self.qk_norm = o.qk_norm ~= false
  self.xsa = o.xsa or false
  self.eps = o.eps or RMSNorm.default_eps
  self.gate_kind = o.gate or false
  if self.gate_kind then
    assert(self.gate_kind == "sparse" or self.gate_kind == "dense",
           "nn.Attention: gate is \"sparse\" or \"dense\", not " .. tostring(self.gate_kind))
    self.gate_width = self.gate_kind == "sparse" and math.min(o.gate_window or 12, o.dim) or o.dim
    self.gate_scale = o.gate_scale or 1
    local init = self.gate_kind == "sparse" and module.init.zeros() or module.init.normal(0.01)
    self.gate = module.parameter({ self.heads, self.gate_width }, init)
  end
end

-- extra_v: a tensor added to v (value embeddings), [B, T, kv_heads, head_dim]
function Attention:forward(x, extra_v)
  local B, T = x:size(1), x:size(2)
  local H, Hkv, hd = self.heads, self.kv_heads, self.head_dim
  local q = self.c_q(x):reshape(B, T, H, hd)
  local k = self.c_k(x):reshape(B, T, Hkv, hd)
  local v = self.c_v(x):reshape(B, T, Hkv, hd)
  if extra_v then v = v + extra_v end
  if self.qk_norm then
    q = core.rms_norm(q, self.eps)
    k = core.rms_norm(k, self.eps)
  end
  q = core.rope(q, self.rope)
  k = core.rope(k, self.rope)
  if self.use_q_gain then q = q * self.q_gain:reshape(H, 1) end
  local y = core.attention(q, k, v, { xsa = self.xsa })
  if self.gate_kind then
    local u = self.gate_kind == "sparse" and x:narrow(3, 1, self.gate_width) or x
    local g = core.sigmoid(core.linear(u, self.gate) * self.gate_scale)  -- [B, T, H]
    y = y * g:reshape(B, T, H, 1)
  end
  return self.proj(y:reshape(B, T, self.dim))
end

return Attention
