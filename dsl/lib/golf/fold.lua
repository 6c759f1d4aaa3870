-- golf.fold: learned causal sequence folding for a recurrent block (SEEDS.md §4).
--
-- SequenceFolder halves the sequence: y[m] = w₀⊙x[2m−1] + w₁⊙x[2m] (x[−1] = 0), i.e. the input is
-- shifted right by one (k − 1 for a 2-tap window) before the stride-2 pooling, so folded position
-- m depends only on positions ≤ 2m, the earliest of the two it is upsampled back to. w₀, w₁ [dim]
-- start at ½ (the pairwise mean). After the fold a learned absolute position table [L/2, dim]
-- (init N(0, 0.02²)) is added: RoPE inside the block then counts folded positions, the table tells a level's
-- positions apart. upsample() repeats each folded position twice.
--
-- FoldedRecurrentBlock runs one block `iterations` times, adding a learned vector per iteration
-- (it tracks the iteration), and folds before iteration i whenever i > 0 and i % fold_every == 0.
-- At the end the folded stream is upsampled level by level and added to each fold's pre-fold
-- residual (hourglass style). Causality: a fine position j receives folded position ⌊j/2⌋, which
-- depends on fine positions ≤ 2⌊j/2⌋ ≤ j; by induction over levels no output sees a later token.
-- Such a model cannot decode incrementally (the script sets incremental = false).
local core = require "golf.core"
local module = require "golf.module"

local M = {}

local SequenceFolder = module.class("SequenceFolder")
M.SequenceFolder = SequenceFolder

-- length: the folded length (seq_len / 2 for the first fold); the position table's rows.
function SequenceFolder:init(dim, length)
  self.dim, self.length = dim, length
  self.weight = module.parameter({ 2, dim }, module.init.constant(0.5))
  self.pos = module.parameter({ length, dim }, module.init.normal(0.02))
end

function SequenceFolder:forward(x)
  local B, L, D = x:size(1), x:size(2), x:size(3)
  if L % 2 ~= 0 then error(("SequenceFolder: cannot fold an odd length %d (seq_len must be divisible by 2^folds)"):format(L), 2) end
  if L // 2 > self.length then
    error(("SequenceFolder: folding %d positions needs %d position rows, the table has %d"):format(L, L // 2, self.length), 2)
  end
  local paired = core.token_shift(x, 1):reshape(B, L // 2, 2, D)
  local y = (paired * self.weight):sum(3):reshape(B, L // 2, D)
  return y + self.pos:narrow(1, 1, L // 2)
end

function M.upsample(z)
  local B, L, D = z:size(1), z:size(2), z:size(3)
  return z:reshape(B, L, 1, D):expand(B, L, 2, D):reshape(B, 2 * L, D)
end

-- The iterations at which a fold happens: i = fold_every, 2·fold_every, ... < iterations.
function M.fold_count(iterations, fold_every)
  if fold_every <= 0 then return 0 end
  return (iterations - 1) // fold_every
end

local FoldedRecurrentBlock = module.class("FoldedRecurrentBlock")
M.FoldedRecurrentBlock = FoldedRecurrentBlock

-- o: dim, seq_len, iterations, fold_every; block: the module run every iteration.
function FoldedRecurrentBlock:init(o, block)
  self.iterations, self.fold_every = o.iterations, o.fold_every
  local folds = M.fold_count(o.iterations, o.fold_every)
  assert(o.seq_len % (1 << folds) == 0,
         ("FoldedRecurrentBlock: seq_len %d is not divisible by 2^%d (one halving per fold)"):format(o.seq_len, folds))
  self.block = block
  self.iter_pos = module.parameter({ o.iterations, o.dim }, module.init.normal(0.01))
  if folds > 0 then
    self.folds = module.List(folds, function(f) return SequenceFolder(o.dim, o.seq_len >> (f + 1)) end)
  end
end

function FoldedRecurrentBlock:forward(x)
  local residuals = {}
  for i = 0, self.iterations - 1 do
    if i > 0 and self.fold_every > 0 and i % self.fold_every == 0 then
      residuals[#residuals + 1] = x
      x = self.folds[#residuals](x)
    end
    x = self.block(x + self.iter_pos:narrow(1, i + 1, 1))
  end
  for f = #residuals, 1, -1 do x = residuals[f] + M.upsample(x) end
  return x
end

return M
