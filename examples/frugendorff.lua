-- Frugendorff Squared (SEEDS.md §1a, seed 002): 6 unique blocks run as 2 loops of a 3+3 U-Net,
-- so 12 layers of depth for the parameters of 6, the savings spent on a 4× MLP and d=640.
--   x = Smear(RMSN(E[t] + Bigram(t))); x0 = x
--   for each loop ℓ: x ← x + p_ℓ; x ← UNet6(x, x0)      (the skip stack restarts every loop)
--   logits = 30·tanh(RMSN(x)·Eᵀ / 30)
-- 10 heads / 5 KV heads of 64, RoPE on 16 of 64 dims, XSA on the last 2 blocks, value embedding
-- into v on blocks 2 and 3, LN scale 1/√(block+1) (the same in both loops). About 28.2M
-- parameters; int6 GPTQ for the blocks, int8 embeddings (quant below).
local nn = require "golf.nn"
local recipes = require "golf.recipes"

local M = {
  config = {
    vocab = 1024, dim = 640, layers = 6, loops = 2, heads = 10, kv_heads = 5, mlp = 4,
    rope_dims = 16, rope_base = 10000, seq_len = 1024, qk_gain = 1.5, softcap = 30, ln_scale = true,
    xsa_last = 2, ve_first = 2, ve_count = 2, ve_dim = 128, bigram_buckets = 2048, bigram_dim = 128,
    smear = "channel", loop_init = "qr", embed_std = 0.005, norm_eps = 1.1920928955078125e-07,
  },
  presets = {
    -- Four to five minutes on 2 CPU cores: the same module types at d=128 and the recipe in
    -- miniature (late QAT, replay, self-distillation, GPTQ), with the baseline's cpu-preset
    -- optimizer settings (momentum 0.99 and EMA need thousands of steps, not ~60), the live weights
    -- exported, and a short GPTQ calibration.
    cpu = { dim = 128, heads = 4, kv_heads = 2, mlp = 4, seq_len = 256, ve_dim = 32, bigram_buckets = 1024, bigram_dim = 32,
            train = recipes.cpu_train { ema = false, swa = false,
                      phases = {
                        { name = "main", seconds = 270 },
                        { name = "replay", steps = 4, lr_scale = 0.1, data = { replay = 4 } },
                        { name = "distill", distill = { teacher = "live", temperature = 2, alpha = 0.7 } } } },
            quant = recipes.cpu_quant() },
    tiny = { vocab = 64, dim = 32, heads = 4, kv_heads = 2, rope_dims = 4, seq_len = 16, ve_dim = 8,
             bigram_buckets = 32, bigram_dim = 8 },
  },
  -- SEEDS.md §1a's recipe: Muon momentum 0.99, clip 0.3, EMA 0.997, SWA every 50 steps once the LR
  -- multiplier is under 0.2, late QAT under 0.15, then a replay of the last 100 batches (2 epochs at
  -- 0.1× LR) and 50 steps of self-distillation from the frozen EMA weights; the EMA weights are
  -- exported. Phase lengths assume ~136 ms steps on 8 GPUs (4,396 steps in 600 s).
  train = {
    batch_tokens = 524288, time_budget = 600, grad_clip = 0.3,
    warmdown = { iters = 3500, by = "time" },
    ema = { decay = 0.997 }, swa = { every = 50, below = 0.2 }, qat = { below = 0.15 },
    phases = {
      { name = "main", seconds = 560 },
      { name = "replay", steps = 200, lr_scale = 0.1, data = { replay = 100 } },
      { name = "distill", steps = 50, distill = { teacher = "ema", temperature = 2, alpha = 0.7 } },
    },
    optim = recipes.optim("seeds"),
  },
  quant = {
    default = "int6", clip = "search", gptq = true, keep_float_below = 65536, codec = "zstd", packed = false,
    calibration = { batches = 8, damp = 0.01 }, weights = "ema",
    rules = { { match = "tok_emb%.weight", encoding = "int8" }, { match = "bigram%.table", encoding = "int8" },
              { match = "ve%.embed%.weight", encoding = "int8" } },
  },
}

function M.build(g, cfg, mode)
  local hd = cfg.dim // cfg.heads
  local m = nn.Model()
  m.tok_emb = nn.Embedding(cfg.vocab, cfg.dim, { std = cfg.embed_std })
  m.bigram = nn.NgramHash { n = 2, buckets = cfg.bigram_buckets, dim = cfg.bigram_dim, out = cfg.dim }
  m.smear = nn.SmearGate { dim = cfg.dim, form = cfg.smear }
  local ve_layers = {}
  for i = 0, cfg.ve_count - 1 do ve_layers[#ve_layers + 1] = cfg.ve_first + i end
  m.ve = nn.ValueEmbedding { vocab = cfg.vocab, dim = cfg.ve_dim, kv_heads = cfg.kv_heads, head_dim = hd, layers = ve_layers }
  m.loop_pos = nn.Parameter({ cfg.loops, cfg.dim }, cfg.loop_init == "qr" and nn.init.orthogonal(0.01) or nn.init.normal(0.01))
  m.blocks = nn.UNet(cfg.layers, function(i) return nn.Block(cfg, i, { xsa = i >= cfg.layers - cfg.xsa_last }) end,
                     { dim = cfg.dim })

  local x = m.smear(nn.rms_norm(m.tok_emb(g.tokens) + m.bigram(g.tokens), cfg.norm_eps), g.tokens)
  local x0, ve = x, m.ve(g.tokens)
  for loop = 1, cfg.loops do
    x = m.blocks(x + m.loop_pos:narrow(1, loop, 1), x0, ve)
  end
  local logits = m.tok_emb:tied_head(nn.rms_norm(x, cfg.norm_eps))
  return nn.cross_entropy(logits, g.targets, cfg.softcap), nn.softcap(logits, cfg.softcap)
end

return M
