-- Micro Crawler (SEEDS.md §1b, seed 002): 4 flat blocks run once (a 2+2 U-Net), then 2 shared
-- "crawler" blocks fired twice from the same input with orthogonal loop positions, the two
-- firings merged by a learned deliberation gate.
--   x = Smear(RMSN(E[t] + Trigram(t))); x0 = x; x ← UNet4(x, x0); x ← Crawler(x); logits = head(RMSN(x))
--   single firing: s = C2(C1(x + p0)); g = σ(Wg[s; r]); out = s + λ·(g⊙s + (1−g)⊙r − s)
--   double firing: f_k = C2(C1(x + p_k)), k = 0, 1; g1 = σ(Wg[f0; f1]); c = g1⊙f0 + (1−g1)⊙f1;
--                  g2 = σ(Wg[c; r]); out = f1 + λ·(g2⊙c + (1−g2)⊙r − f1)
-- Training fires once, except every `double_every`-th step (train.double_fire); evaluation,
-- calibration, distillation and generation fire twice. The crawler blocks have XSA and the value
-- embedding; LN scale 1/√5 and 1/√6. (Reported at ≈16.5 MB: over the budget at d=640.)
local nn = require "golf.nn"
local recipes = require "golf.recipes"

-- Muon's matrices: the flat blocks' and the crawler's.
local MATRICES = { "flat%.%d+%..*weight", "crawler%.%d+%..*weight" }

-- The gate: Wg [d, 2d] (orthogonal), λ (init 0: the crawler starts as plain s or f1), r [d] (init 0).
local Deliberation = nn.class("Deliberation")
function Deliberation:init(dim)
  self.dim = dim
  self.gate = nn.Linear(2 * dim, dim, { init = nn.init.orthogonal(1) })
  self.lambda = nn.Parameter({ 1 }, nn.init.zeros())
  self.ref = nn.Parameter({ dim }, nn.init.zeros())
end
-- σ(Wg[a; b]) without building [a; b]: Wg's two halves applied to a and to b.
function Deliberation:mix(a, b)
  local d, w = self.dim, self.gate.weight
  if b:dim() == 1 then b = b:reshape(1, d) end  -- r: one row for every position
  return nn.sigmoid(nn.linear(a, w:narrow(2, 1, d)) + nn.linear(b, w:narrow(2, d + 1, d)))
end
function Deliberation:forward(f0, f1)
  local base, c = f0, f0
  if f1 then
    local g1 = self:mix(f0, f1)
    c = g1 * f0 + (1 - g1) * f1
    base = f1
  end
  local g2 = self:mix(c, self.ref)
  return base + self.lambda * (g2 * c + (1 - g2) * self.ref - base)
end

local M = {
  config = {
    vocab = 1024, dim = 640, flat = 4, heads = 10, kv_heads = 5, mlp = 4,
    rope_dims = 16, rope_base = 10000, seq_len = 1024, qk_gain = 1.5, softcap = 30, ln_scale = true,
    ve_dim = 128, trigram_buckets = 8192, trigram_dim = 128, smear = "channel",
    embed_std = 0.005, norm_eps = 1.1920928955078125e-07,
  },
  presets = {
    -- As frugendorff.lua's cpu preset (see there), double-firing every 4th step.
    cpu = { dim = 128, heads = 4, kv_heads = 2, seq_len = 256, ve_dim = 32, trigram_buckets = 2048, trigram_dim = 32,
            train = recipes.cpu_train { ema = false, swa = false,
                      double_fire = { every = 4 },
                      phases = {
                        { name = "main", seconds = 270 },
                        { name = "replay", steps = 4, lr_scale = 0.1, data = { replay = 4 } },
                        { name = "distill", distill = { teacher = "live", temperature = 2, alpha = 0.7 } } },
                      optim = recipes.optim("cpu", { matrix = MATRICES }) },
            quant = recipes.cpu_quant() },
    tiny = { vocab = 64, dim = 32, heads = 4, kv_heads = 2, rope_dims = 4, seq_len = 16, ve_dim = 8,
             trigram_buckets = 64, trigram_dim = 8 },
  },
  train = {
    batch_tokens = 524288, time_budget = 600, grad_clip = 0.3,
    warmdown = { iters = 3500, by = "time" },
    ema = { decay = 0.997 }, swa = { every = 50, below = 0.2 }, qat = { below = 0.15 },
    double_fire = { every = 4 },
    phases = {
      { name = "main", seconds = 560 },
      { name = "replay", steps = 200, lr_scale = 0.1, data = { replay = 100 } },
      { name = "distill", steps = 50, distill = { teacher = "ema", temperature = 2, alpha = 0.7 } },
    },
    optim = recipes.optim("seeds", { matrix = MATRICES }),
  },
  -- GPTQ int6 with Hessians summed over both firings (a calibration graph fires twice); the gate
  -- and the trigram table int8.
  quant = {
    default = "int6", clip = "search", gptq = true, keep_float_below = 65536, codec = "zstd", packed = false, weights = "ema",
    calibration = { batches = 8, damp = 0.01 },
    rules = { { match = "tok_emb%.weight", encoding = "int8" }, { match = "trigram%.table", encoding = "int8" },
              { match = "ve%.embed%.weight", encoding = "int8" }, { match = "delib%.gate%.weight", encoding = "int8" } },
  },
}

function M.build(g, cfg, mode)
  local hd = cfg.dim // cfg.heads
  local m = nn.Model()
  m.tok_emb = nn.Embedding(cfg.vocab, cfg.dim, { std = cfg.embed_std })
  m.trigram = nn.NgramHash { n = 3, buckets = cfg.trigram_buckets, dim = cfg.trigram_dim, out = cfg.dim }
  m.smear = nn.SmearGate { dim = cfg.dim, form = cfg.smear }
  m.flat = nn.UNet(cfg.flat, function(i) return nn.Block(cfg, i) end, { dim = cfg.dim })
  m.crawler = nn.List(2, function(i) return nn.Block(cfg, cfg.flat + i, { xsa = true }) end)
  m.ve = nn.ValueEmbedding { vocab = cfg.vocab, dim = cfg.ve_dim, kv_heads = cfg.kv_heads, head_dim = hd, layers = { 0, 1 } }
  m.loop_pos = nn.Parameter({ 2, cfg.dim }, nn.init.orthogonal(0.01))
  m.delib = Deliberation(cfg.dim)

  local x = m.smear(nn.rms_norm(m.tok_emb(g.tokens) + m.trigram(g.tokens), cfg.norm_eps), g.tokens)
  local x0 = x
  x = m.flat(x, x0)
  local ve = m.ve(g.tokens)
  local function fire(k)
    local h = m.crawler[1](x + m.loop_pos:narrow(1, k + 1, 1), x0, ve[0])
    return m.crawler[2](h, x0, ve[1])
  end
  if mode == "train" then x = m.delib(fire(0)) else x = m.delib(fire(0), fire(1)) end
  local logits = m.tok_emb:tied_head(nn.rms_norm(x, cfg.norm_eps))
  return nn.cross_entropy(logits, g.targets, cfg.softcap), nn.softcap(logits, cfg.softcap)
end

return M
