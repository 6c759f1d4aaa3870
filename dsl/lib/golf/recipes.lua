-- golf.recipes: the optimizer rules and training tables that example scripts share, so that a
-- script's header, config and build() are what is its own.
--   local recipes = require "golf.recipes"
--   train = { ..., optim = recipes.optim("seeds") }
--   presets = { cpu = { ..., train = recipes.cpu_train{ phases = ... }, quant = recipes.cpu_quant() } }
-- Every call returns a fresh table: a script may change what it gets.
local R = {}

local function copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return out
end

-- Muon for the block matrices, Adam for the tied embedding, Adam for everything else (vectors,
-- control tensors), as the baseline groups them. The named settings:
--   baseline  the baseline's train_gpt.py (PARAMETER_GOLF.md)
--   cpu       the baseline's at a ~60-step scale: the momentum warm-up over 30 steps, not 500
--   seeds     SEEDS.md's recipe: Muon 0.025, momentum 0.99 from 0.92 over 1,500 steps, Adam
--             0.035 for the embedding and 0.025 for the rest
--   record    the 1.0611 record (parameter-golf 2026-04-27): Polar-Express Muon 0.026, momentum
--             0.97 from 0.92 over 1,500 steps, MuonEq-R row normalization, weight decay 0.095;
--             AdamW β₂ 0.99 for the embedding (0.03, wd 0.085) and the rest (0.02, wd 0.02)
local settings = {
  baseline = { lr = 0.04, momentum = 0.95, warmup = { from = 0.85, steps = 500 }, embed_lr = 0.05, scalar_lr = 0.04 },
  cpu = { lr = 0.04, momentum = 0.95, warmup = { from = 0.85, steps = 30 }, embed_lr = 0.05, scalar_lr = 0.04 },
  seeds = { lr = 0.025, momentum = 0.99, warmup = { from = 0.92, steps = 1500 }, embed_lr = 0.035, scalar_lr = 0.025 },
  record = { lr = 0.026, momentum = 0.97, warmup = { from = 0.92, steps = 1500 }, embed_lr = 0.03, scalar_lr = 0.02,
             betas = { 0.9, 0.99 }, muon = { weight_decay = 0.095, row_normalize = true, ns = "polar_express" },
             adamw = true, embed_wd = 0.085, scalar_wd = 0.02 },
}

-- opts.matrix: the Muon rule's pattern, or a list of patterns (one rule each); default the
-- blocks' weights "blocks%.%d+%..*weight". opts.embed: the embedding's pattern ("tok_emb%.weight").
function R.optim(name, opts)
  local s = settings[name]
  if not s then error("golf.recipes.optim: unknown settings '" .. tostring(name) .. "' (baseline, cpu, seeds, record)", 2) end
  opts = opts or {}
  local matrix = opts.matrix or "blocks%.%d+%..*weight"
  if type(matrix) == "string" then matrix = { matrix } end
  local betas, eps = s.betas or { 0.9, 0.95 }, 1e-8
  local rules = {}
  for _, pattern in ipairs(matrix) do
    local muon = { lr = s.lr, momentum = s.momentum, momentum_warmup = copy(s.warmup) }
    for k, v in pairs(s.muon or {}) do muon[k] = v end
    rules[#rules + 1] = { match = pattern, muon = muon }
  end
  local kind = s.adamw and "adamw" or "adam"
  local embed = { lr = s.embed_lr, betas = copy(betas), eps = eps, weight_decay = s.embed_wd }
  local rest = { lr = s.scalar_lr, betas = copy(betas), eps = eps, weight_decay = s.scalar_wd }
  rules[#rules + 1] = { match = opts.embed or "tok_emb%.weight", [kind] = embed }
  rules[#rules + 1] = { match = ".*", [kind] = rest }
  return rules
end

-- The seed scripts' cpu preset training table (2 CPU cores, 300 s, d=128 models): 8,192-token
-- steps in micro-batches of 32, a wall-clock warmdown over the last 40 steps' time, no periodic
-- evaluation, the cpu optimizer settings. `extra`'s keys are added or replace these.
function R.cpu_train(extra)
  local t = {
    batch_tokens = 8192, micro_batch = 32, time_budget = 300, warmdown = { iters = 40, by = "time" },
    eval_every = 0, log_every = 5, checkpoint_every = 50, optim = R.optim("cpu"),
  }
  for k, v in pairs(extra or {}) do t[k] = copy(v) end
  return t
end

-- The cpu presets' export: the live weights (an EMA needs thousands of steps) and a short GPTQ
-- calibration.
function R.cpu_quant(extra)
  local q = { weights = "live", calibration = { batches = 2, damp = 0.01 } }
  for k, v in pairs(extra or {}) do q[k] = copy(v) end
  return q
end

return R
