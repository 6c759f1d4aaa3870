-- BioDNA (SEEDS.md §5, seed 004): the baseline's architecture (examples/baseline.lua: 9 blocks of
-- d=512, 8 heads / 4 KV heads, q/k RMSNorm, RoPE, q gain, relu² MLP 2×, resid_mix with x0, U-Net
-- skips, tied softcapped head) with every linear grown from a genotype by nn.Genome
-- (dsl/lib/golf/genome.lua): gene g = G_L[layer] + G_T[type], two morphogenesis MLPs
-- 32 → 64 (SiLU) → 1024·16 make each linear's rank-16 factors, y = (x·c)·rᵀ.
--   types q, k, v, attn-out, fc, mlp-proj per layer, and head (layerless: gene G_T[head]).
-- The head stays tied to the embedding; the head gene grows a rank-R correction on top of it,
-- gated by a learned scalar s (head_scale, init 0):
--   logits = 30·tanh((h·Eᵀ + s·(h·c_head)·r_headᵀ) / 30),  h = RMSN(x).
-- The blocks' attn_scale and mlp_scale start at 0 (branch_init): a grown weight cannot start at
-- zero as the baseline's output projections do, so the branches are gated off instead.
-- Parameters: the genes (9·32 + 7·32), f_row and f_col (2 × 1,067,072: D_out = D_in = 1024), the
-- embedding (524,288), the blocks' scalars, the skip weights and head_scale: 2,679,497 in all.
local nn = require "golf.nn"

local M = {
  config = {
    vocab = 1024, dim = 512, layers = 9, heads = 8, kv_heads = 4, mlp = 2,
    seq_len = 1024, rope_base = 10000, qk_gain = 1.5, softcap = 30,
    embed_std = 0.005, norm_eps = 1.1920928955078125e-07,
    genes = 32, morph_hidden = 64, rank = 16, branch_init = 0, head_init = 0,
  },
  presets = {
    -- 2 CPU cores, 5 minutes: the baseline's cpu shape. f_row stays 1024·R wide (the head's out is
    -- the vocab); f_col is 256·R (the MLP hidden is the largest in).
    cpu = { dim = 128, layers = 4, heads = 4, kv_heads = 2, seq_len = 256,
            train = { batch_tokens = 8192, micro_batch = 32, time_budget = 300,
                      warmdown = { iters = 40, by = "time" }, eval_every = 50, eval_windows = 32,
                      log_every = 10, checkpoint_every = 100 } },
    -- scripts/reference/biodna.py's config, checked by tests/golden_biodna_test.cc
    tiny = { vocab = 96, dim = 32, layers = 5, heads = 4, kv_heads = 2, seq_len = 16,
             genes = 8, morph_hidden = 16, rank = 4 },
  },
  train = {
    batch_tokens = 524288, time_budget = 600,
    warmdown = { iters = 1200, by = "time" },
    -- Adam everywhere; the morphogenesis MLPs' matrices at a 20× smaller rate than the rest (a
    -- generated factor entry sums 64 of W2's moves; docs/seeds.md, "BioDNA", has the measurements).
    optim = {
      { match = "genome%.f_%a+%.w%d", adam = { lr = 0.002, betas = { 0.9, 0.95 }, eps = 1e-8 } },
      { match = "tok_emb%.weight", adam = { lr = 0.05, betas = { 0.9, 0.95 }, eps = 1e-8 } },
      { match = ".*", adam = { lr = 0.04, betas = { 0.9, 0.95 }, eps = 1e-8 } },
    },
  },
  -- int8 per row for the embedding and the MLPs' output matrices (every generated weight is a
  -- function of them, so no coarser grid); the genes, biases, W1 and the scalars stay float.
  quant = { default = "int8", clip = { quantile = 0.9999984 }, keep_float_below = 65536, codec = "auto" },
}

local LINEARS = { attn = { c_q = "q", c_k = "k", c_v = "v", proj = "attn_out" }, mlp = { fc = "fc", proj = "mlp_proj" } }

function M.build(g, cfg, mode)
  local D, hd = cfg.dim, cfg.dim // cfg.heads
  local kv, hidden = cfg.kv_heads * hd, cfg.mlp * cfg.dim
  local m = nn.Model()
  m.tok_emb = nn.Embedding(cfg.vocab, D, { std = cfg.embed_std })
  m.genome = nn.Genome {
    layers = cfg.layers, genes = cfg.genes, hidden = cfg.morph_hidden, rank = cfg.rank,
    types = { { "q", D, D }, { "k", D, kv }, { "v", D, kv }, { "attn_out", D, D }, { "fc", D, hidden },
              { "mlp_proj", hidden, D }, { "head", D, cfg.vocab, layerless = true } },
  }
  -- The baseline's blocks with their linears swapped for generated ones before they join the
  -- model, so the stored nn.Linear weights are never declared.
  m.blocks = nn.UNet(cfg.layers, function(i)
    local b = nn.Block(cfg, i)
    -- branch_init 0 stands in for the baseline's zero-init output projections, which a grown
    -- weight cannot be (the block starts as the identity)
    b.attn_scale = nn.Parameter({ D }, nn.init.constant(cfg.branch_init))
    b.mlp_scale = nn.Parameter({ D }, nn.init.constant(cfg.branch_init))
    for part, names in pairs(LINEARS) do
      for field, type_name in pairs(names) do b[part][field] = m.genome:linear(i, type_name) end
    end
    return b
  end, { dim = D })
  m.head = m.genome:linear(nil, "head")
  m.head_scale = nn.Parameter({ 1 }, nn.init.constant(cfg.head_init))

  local x0 = nn.rms_norm(m.tok_emb(g.tokens), cfg.norm_eps)
  local h = nn.rms_norm(m.blocks(x0, x0), cfg.norm_eps)
  local logits = m.tok_emb:tied_head(h) + m.head_scale * m.head(h)
  return nn.cross_entropy(logits, g.targets, cfg.softcap), nn.softcap(logits, cfg.softcap)
end

return M
