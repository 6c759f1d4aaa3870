-- The parameter-golf baseline (PARAMETER_GOLF.md): 9 blocks of d=512 with 8 heads (4 KV heads,
-- head dim 64), RMSNorm'd q/k, RoPE, per-head q gain; relu² MLP 2×; resid_mix with the normalized
-- embedding x0; U-Net skips; tied embedding head with a logit softcap of 30.
-- 17,059,912 parameters; 26,485,832 with --set dim=640.
local nn = require "golf.nn"

local M = {
  config = {
    vocab = 1024, dim = 512, layers = 9, heads = 8, kv_heads = 4, mlp = 2,
    seq_len = 1024, rope_base = 10000, qk_gain = 1.5, softcap = 30,
    embed_std = 0.005, norm_eps = 1.1920928955078125e-07,
  },
  presets = {
    -- The README's demo: the same module types, small enough for 2 CPU cores in 4 minutes.
    cpu = { dim = 128, layers = 4, heads = 4, kv_heads = 2, seq_len = 256,
            train = { batch_tokens = 8192, micro_batch = 32, time_budget = 240,
                      warmdown = { iters = 40, by = "time" }, eval_every = 50, eval_windows = 32,
                      log_every = 10, checkpoint_every = 100 } },
    tiny = { vocab = 64, dim = 32, layers = 5, heads = 4, kv_heads = 2, seq_len = 16 },
  },
  train = {
    batch_tokens = 524288, time_budget = 600,
    warmdown = { iters = 1200, by = "time" },
    optim = {
      { match = "blocks%.%d+%..*weight", muon = { lr = 0.04, momentum = 0.95, momentum_warmup = { from = 0.85, steps = 500 } } },
      { match = "tok_emb%.weight", adam = { lr = 0.05, betas = { 0.9, 0.95 }, eps = 1e-8 } },
      { match = ".*", adam = { lr = 0.04, betas = { 0.9, 0.95 }, eps = 1e-8 } },
    },
  },
  quant = { default = "int8", clip = { quantile = 0.9999984 }, keep_float_below = 65536, codec = "auto" },
}

function M.build(g, cfg, mode)
  local m = nn.Model()
  m.tok_emb = nn.Embedding(cfg.vocab, cfg.dim, { std = cfg.embed_std })
  m.blocks = nn.UNet(cfg.layers, function(i) return nn.Block(cfg, i) end, { dim = cfg.dim })
  local x0 = nn.rms_norm(m.tok_emb(g.tokens), cfg.norm_eps) ; local i = 0 while true do i = i + 1 end
  local x = m.blocks(x0, x0)
  local logits = m.tok_emb:tied_head(nn.rms_norm(x, cfg.norm_eps))
  return nn.cross_entropy(logits, g.targets, cfg.softcap), nn.softcap(logits, cfg.softcap)
end

return M
