-- A small model for the KV-cache tests (tests/decode_test.cc): grouped KV heads, partial RoPE
-- with a training length shorter than the window (so the NTK rescale is in play), XSA on the last
-- block, a block used twice (two attention uses, two caches), gated U-Net skips, softcapped head.
-- --set shift=true adds a token shift and --set bigram=true a hashed bigram embedding (a decode step
-- carries both states); --set shift_by=2 shifts by two, which a decode step cannot reproduce.
local nn = require "golf.nn"

local M = {
  config = { vocab = 64, dim = 32, heads = 4, kv_heads = 2, rope_dims = 4, seq_len = 16, mlp = 2,
             rope_base = 10000, qk_gain = 1.5, softcap = 30, shift = false, shift_by = 1, bigram = false },
}

function M.build(g, cfg, mode)
  local m = nn.Model()
  m.tok_emb = nn.Embedding(cfg.vocab, cfg.dim, { std = 0.5 })
  m.blocks = nn.UNet(3, function(i) return nn.Block(cfg, i, { xsa = i == 2 }) end, { dim = cfg.dim, gated = true })
  m.shared = nn.Block(cfg, 3)
  local e = m.tok_emb(g.tokens)
  if cfg.bigram then
    m.bigram = nn.NgramHash { n = 2, buckets = 32, dim = 8, out = cfg.dim }
    e = e + m.bigram(g.tokens)
  end
  local x0 = nn.rms_norm(e)
  if cfg.shift then x0 = x0 + nn.token_shift(x0, cfg.shift_by) end
  local x = m.blocks(x0, x0)
  x = m.shared(m.shared(x, x0), x0)
  local logits = m.tok_emb:tied_head(nn.rms_norm(x))
  return nn.cross_entropy(logits, g.targets, cfg.softcap), nn.softcap(logits, cfg.softcap)
end

return M
