-- The Fractal Compressor (SEEDS.md §4, seed 000): one spectral transformer block run `iterations`
-- times over a byte stream, folding the sequence in half every `fold_every` iterations.
--   x = RMSN(A(E)[t])                        byte-level virtual vocab: E [260, 64], Assembler A (GELU MLP)
--   for i = 0 .. N−1:  if i > 0 and i % K == 0: push x; x = Fold(x)   (causal stride-2 pooling)
--                      x = Block(x + p_i)
--   unfold: x = pushed + Upsample(x), level by level
--   logits = 30·tanh(RMSN(x)·A(E)ᵀ / 30)     tied head: no output matrix is stored
-- Every block matrix is spectral (golf/spectral.lua): learned low-frequency coefficients between
-- fixed DCT-II bases the script builds (never stored); W_q and W_up share one coefficient matrix
-- (SharedProjector), each with its own shift vector. Data: bytes (`golfrt data prepare --bytes`,
-- scripts/prepare_default_data.sh --bytes). Folding mixes positions, so generation recomputes its window.
--
-- The default config maximizes d_model under 16,000,000 bytes (SEEDS.md: "fit under 16 MB while
-- maximizing d_model"), with the rest fixed: head dim 64, kv_heads = heads/2 (so dim steps by 128),
-- MLP 4×, 12 iterations folding every 4 (two folds: 1024 → 512 → 256 positions), int8 per row with
-- the quantile clip, brotli/zstd ("auto"): d = 4352, ρ = 0.254. The dim search and fit's measured
-- error on this scheme are in docs/seeds.md ("Fractal Compressor", "Do they fit?").
local nn = require "golf.nn"
local spectral = require "golf.spectral"
local fold = require "golf.fold"
local SpectralBlock = require "golf.spectral_block"
local ByteVocab = require "golf.byte_vocab"

local M = {
  incremental = false,
  config = {
    vocab = 260, byte_embed = 64, assembler_hidden = 288, dim = 4352, head_dim = 64, heads = 0, kv_heads = 0,
    mlp = 4, rho = 0.254, iterations = 12, fold_every = 4, basis = "dct", spectral_eval = "auto",
    seq_len = 1024, rope_dims = 16, rope_base = 10000, qk_gain = 1.5, softcap = 30, embed_std = 1.0,
    assembler_out_std = 0.005,
    norm_eps = 1.1920928955078125e-07,
  },
  presets = {
    -- Five minutes on 2 CPU cores: d = 128 (2 heads of 64), ρ = 0.5, 6 iterations folding every 2
    -- (256 → 128 → 64 positions), small batches (docs/seeds.md, "Learning check").
    cpu = { dim = 128, rho = 0.5, iterations = 6, fold_every = 2, seq_len = 256,
            train = { batch_tokens = 2048, micro_batch = 8, time_budget = 300,
                      warmdown = { iters = 200, by = "time" }, eval_every = 0, log_every = 50, checkpoint_every = 500 },
            -- int8 from 4,096 values up, so that the coefficient matrices are quantized as at full size
            -- (where every one is far above 65,536): the run that measures fit's error on this scheme.
            quant = { keep_float_below = 4096 } },
    -- scripts/reference/fractal.py's config (the golden test): two folds over 16 positions; its train
    -- table is tests/unstored_buffers_test.cc's few-step run.
    tiny = { dim = 32, heads = 4, kv_heads = 2, byte_embed = 8, assembler_hidden = 16, rho = 0.5, iterations = 5,
             fold_every = 2, rope_dims = 4, seq_len = 16,
             train = { batch_tokens = 64, micro_batch = 4, warmdown = 0, eval_every = 0, log_every = 1, checkpoint_every = 2 } },
  },
  train = {
    batch_tokens = 524288, time_budget = 600,
    warmdown = { iters = 1200, by = "time" },
    -- The baseline's rules at lower rates (its 0.04/0.05 diverge on the cpu preset; docs/seeds.md,
    -- "Learning check"). Not tuned at full size.
    optim = {
      { match = "blocks%.block%..*coef", muon = { lr = 0.01, momentum = 0.95, momentum_warmup = { from = 0.85, steps = 500 } } },
      { match = ".*", adam = { lr = 0.003, betas = { 0.9, 0.95 }, eps = 1e-8 } },
    },
  },
  quant = { default = "int8", clip = { quantile = 0.9999984 }, keep_float_below = 65536, codec = "auto" },
}

function M.build(g, cfg, mode)
  local c = {}
  for k, v in pairs(cfg) do c[k] = v end
  if c.heads == 0 then
    assert(c.dim % c.head_dim == 0, ("fractal: dim %d is not a multiple of head_dim %d"):format(c.dim, c.head_dim))
    c.heads = c.dim // c.head_dim
  end
  if c.kv_heads == 0 then c.kv_heads = math.max(1, c.heads // 2) end

  local bases = spectral.Bases { kind = c.basis, eval = c.spectral_eval }
  local m = nn.Model()
  m.vocab = ByteVocab { vocab = c.vocab, embed = c.byte_embed, hidden = c.assembler_hidden, dim = c.dim, std = c.embed_std,
                       out_std = c.assembler_out_std }
  m.blocks = fold.FoldedRecurrentBlock({ dim = c.dim, seq_len = c.seq_len, iterations = c.iterations,
                                         fold_every = c.fold_every }, SpectralBlock(c, bases))
  local x = m.blocks(nn.rms_norm(m.vocab(g.tokens), c.norm_eps))
  local logits = m.vocab:tied_head(nn.rms_norm(x, c.norm_eps))
  return nn.cross_entropy(logits, g.targets, c.softcap), nn.softcap(logits, c.softcap)
end

return M
