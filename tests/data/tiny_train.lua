-- A baseline-shaped model small enough for the trainer tests (tests/train_test.cc) to run many
-- short trainings on 2 CPU cores: byte260 vocabulary, dim 32, 2 blocks in a U-Net, tied head.
-- The tests pick schedules, phases and step counts with --set / --preset and CLI options.
local nn = require "golf.nn"

local M = {
  config = {
    vocab = 260, dim = 32, layers = 2, heads = 2, kv_heads = 1, mlp = 2,
    seq_len = 32, rope_base = 10000, qk_gain = 1.5, softcap = 30,
    embed_std = 0.05, norm_eps = 1.1920928955078125e-07, buffers = false, looped = false,
  },
  presets = {
    -- Two phases: the second freezes the embedding and halves the learning rate. No warmdown, so
    -- that a run cut at step 6 (--steps 6) takes the same first 6 steps as the full one.
    phases = { train = { steps = 10, warmdown = 0, phases = {
      { name = "main", steps = 6 },
      { name = "tune", steps = 4, freeze = { "tok_emb%..*" }, lr_scale = 0.5 },
    } } },
    -- A phase that cycles over the last 2 batches of the phase before it.
    replay = { train = { steps = 8, phases = {
      { name = "main", steps = 5 },
      { name = "replay", steps = 3, data = { replay = 2 } },
    } } },
    -- All three kinds of phase in one longer run, with every piece of state a checkpoint must
    -- carry (EMA and SWA weights, the replay buffer), for killing and resuming inside each phase.
    phased_long = { train = { steps = 40, grad_clip = 1.0, ema = { decay = 0.9 }, swa = { every = 4, start = 0.5 }, phases = {
      { name = "main", steps = 5 },
      { name = "tune", steps = 10, freeze = { "tok_emb%..*" }, lr_scale = 0.5 },
      { name = "replay", data = { replay = 3 } },
    } } },
    -- Late QAT once the LR multiplier is under 0.6 (the last steps of the warmdown).
    qat = { train = { qat = { below = 0.6 } } },
    -- Self-distillation after 5 steps from a frozen copy of the live weights: alpha = 1 is pure
    -- KL (0 at the phase's first step), alpha = 0 pure cross entropy (the same as no phase). No
    -- warmdown, so that a run cut at step 5 takes the same first 5 steps.
    distill = { train = { warmdown = 0, phases = { { name = "main", steps = 5 },
                                     { name = "distill", distill = { teacher = "live", temperature = 2, alpha = 1 } } } } },
    distill_ce = { train = { warmdown = 0, phases = { { name = "main", steps = 5 },
                                        { name = "distill", distill = { teacher = "live", temperature = 2, alpha = 0 } } } } },
    plain_split = { train = { warmdown = 0, phases = { { name = "main", steps = 5 }, { name = "distill" } } } },
    -- Buffers (tests/train_test.cc): an integer permutation of the embedding channels, a large
    -- integer table (would be quantized and QAT'd were it a weight) and a real per-channel
    -- constant, with every weight set (EMA, SWA) and late QAT on.
    buffer = { buffers = true, train = { steps = 20, ema = { decay = 0.9 }, swa = { every = 4, start = 0.5 },
                                         qat = { below = 0.6 } } },
    -- Depth recurrence switched on halfway (train.graph_switch by steps): block 1 runs twice in
    -- the "train" graph, once in the "train_early" graph of the first 10 steps (EMA on, so its
    -- weight set must resume too).
    switched = { looped = true, train = { steps = 20, ema = { decay = 0.9 }, graph_switch = { at = 0.5, by = "steps" } } },
    -- A wall-clock schedule: warm down over the last 4 steps' worth of the time budget.
    timed = { train = { steps = 0, warmdown = { iters = 4, by = "time" } } },
  },
  train = {
    -- 4 sequences of 32 tokens per step in 2 micro-batches of 2: gradient accumulation.
    batch_tokens = 128, micro_batch = 2, steps = 8,
    warmdown = { iters = 4, by = "steps" },
    log_every = 1, checkpoint_every = 0, eval_windows = 8,
    optim = {
      { match = "blocks%.%d+%..*weight", muon = { lr = 0.04, momentum = 0.95, momentum_warmup = { from = 0.85, steps = 5 } } },
      { match = "tok_emb%.weight", adam = { lr = 0.05, betas = { 0.9, 0.95 }, eps = 1e-8 } },
      { match = ".*", adam = { lr = 0.04, betas = { 0.9, 0.95 }, eps = 1e-8 } },
    },
  },
}

-- Matrices of 1,024 values are quantized (the default keeps tensors of up to 65,536 as float), so
-- the artifact and late QAT have something to quantize.
M.quant = { default = "int8", keep_float_below = 256 }

function M.build(g, cfg, mode)
  local m = nn.Model()
  m.tok_emb = nn.Embedding(cfg.vocab, cfg.dim, { std = cfg.embed_std })
  m.blocks = nn.UNet(cfg.layers, function(i) return nn.Block(cfg, i) end,
                     { dim = cfg.dim, order = cfg.looped and { 0, 1, 1 } or nil,
                       run_order = cfg.looped and mode == "train_early" and { 0, 1 } or nil })
  local e = m.tok_emb(g.tokens)
  if cfg.buffers then
    m.perm = nn.Buffer({ cfg.dim }, nn.permutation(cfg.dim, 7), { integer = true })
    m.table = nn.Buffer({ 16, cfg.dim }, function(i, j) return 1000 * i + j - 70000 end, { integer = true })
    m.fixed = nn.Buffer({ cfg.dim }, function(i) return 1 + i / 64 end)
    e = nn.index_select(e, m.perm) * m.fixed + nn.to_real(m.table):mean() * 0
  end
  local x0 = nn.rms_norm(e, cfg.norm_eps)
  local x = m.blocks(x0, x0)
  local logits = m.tok_emb:tied_head(nn.rms_norm(x, cfg.norm_eps))
  return nn.cross_entropy(logits, g.targets, cfg.softcap), nn.softcap(logits, cfg.softcap)
end

return M
