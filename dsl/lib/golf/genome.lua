-- Genome: BioDNA's hypernetwork (SEEDS.md §5, seed 004). Every linear of a model is grown from a
-- genotype instead of being stored:
--   gene   g = G_L[layer] + G_T[type]                      (genes-dim; a layer-less type: G_T[type])
--   f(g)   = W2·silu(W1·g + b1) + b2                       (f_row: genes → hidden → D_out·R, f_col: → D_in·R)
--   r = reshape(f_row(g), D_out, R)[:out] / √(in·R),   c = reshape(f_col(g), D_in, R)[:in]
--   y = (x·c)·rᵀ                                          (rank R; W = r·cᵀ is never formed)
--   nn.Genome{ layers = 9, types = { { "q", 512, 512 }, ..., { "head", 512, 1024, layerless = true } },
--              genes = 32, hidden = 64, rank = 16 }
--   local lin = genome:linear(3, "q")         -- a module with no parameters: lin(x)
-- Only G_L, G_T and the two MLPs are parameters. The first use in a graph evaluates f_row and f_col
-- once over all genes stacked into one [n_linears, genes] matrix; every linear then slices its
-- r and c from that. D_out is the largest out of the declared types, D_in the largest in: SEEDS.md's
-- D_max (the largest dimension) for both MLPs when the two agree, as in the baseline shape, and no
-- rows that no linear reads (parameters that never get a gradient) when they differ.
--
-- Init: each gene entry N(0, ½), so g = G_L + G_T has unit variance; W1 N(0, 1/genes), b1 = b2 = 0,
-- so W1·g is N(0, 1) and silu of it has RMS 0.5966; W2 N(0, s²) with s chosen so r and c have std
-- 3^(-1/4): then W = r·cᵀ/√(in·R) has std 1/√(3·in), the std of nn.Linear's U(±1/√in) init.
local core = require "golf.core"
local module = require "golf.module"

local SILU_RMS = 0.5966   -- E[silu(u)²]^½ for u ~ N(0, 1)
local FACTOR_STD = 3 ^ -0.25

local Morph = module.class("Morph")

function Morph:init(genes, hidden, out)
  self.w1 = module.parameter({ hidden, genes }, module.init.normal(1 / math.sqrt(genes)))
  self.b1 = module.parameter({ hidden }, module.init.zeros())
  self.w2 = module.parameter({ out, hidden }, module.init.normal(FACTOR_STD / (SILU_RMS * math.sqrt(hidden))))
  self.b2 = module.parameter({ out }, module.init.zeros())
end

function Morph:forward(g)
  return core.linear(core.silu(core.linear(g, self.w1) + self.b1), self.w2) + self.b2
end

local GeneratedLinear = module.class("GeneratedLinear")

function GeneratedLinear:init(genome, index, name, in_features, out_features)
  rawset(self, "genome", genome)  -- a reference, not a child: the genome belongs to the model once
  self.index, self.name, self.in_features, self.out_features = index, name, in_features, out_features
end

function GeneratedLinear:forward(x)
  if x:size(-1) ~= self.in_features then
    error(("generated linear %s (%s) takes %d features, got a tensor of shape [%s]"):format(
      rawget(self, "_path") or "detached", self.name, self.in_features, table.concat(x:shape(), ", ")), 2)
  end
  local e = self.genome:express()
  local R = self.genome.rank
  local r = e.rows:narrow(1, self.index, 1):narrow(2, 1, self.out_features):reshape(self.out_features, R)
  local c = e.cols:narrow(1, self.index, 1):narrow(2, 1, self.in_features):reshape(self.in_features, R)
  r = r * (1 / math.sqrt(self.in_features * R))
  return core.linear(core.matmul(x, c), r)
end

local Genome = module.class("Genome")

function Genome:init(o)
  assert(o.layers and o.types, "nn.Genome needs layers and types")
  self.layers, self.genes, self.hidden, self.rank = o.layers, o.genes or 32, o.hidden or 64, o.rank or 16
  self.types, self.type_index = {}, {}
  local layered, d_in, d_out = 0, 0, 0
  for i, t in ipairs(o.types) do
    local name, fin, fout = t[1], t[2], t[3]
    assert(type(name) == "string" and fin and fout, "nn.Genome: a type is { name, in, out [, layerless = true] }")
    assert(not self.type_index[name], "nn.Genome: type '" .. name .. "' is declared twice")
    if t.layerless then
      self.types[i] = { name = name, in_features = fin, out_features = fout, layerless = true }
    else
      -- the per-layer genes are formed by one broadcast over the leading rows of G_T
      assert(layered == i - 1, "nn.Genome: per-layer types come before layerless ones ('" .. name .. "')")
      layered = i
      self.types[i] = { name = name, in_features = fin, out_features = fout }
    end
    self.type_index[name] = i
    d_in, d_out = math.max(d_in, fin), math.max(d_out, fout)
  end
  assert(layered > 0, "nn.Genome needs at least one per-layer type")
  self.layered, self.d_in, self.d_out = layered, d_in, d_out
  self.count = self.layers * layered + (#self.types - layered)
  self.layer_genes = module.parameter({ self.layers, self.genes }, module.init.normal(math.sqrt(0.5)))
  self.type_genes = module.parameter({ #self.types, self.genes }, module.init.normal(math.sqrt(0.5)))
  self.f_row = Morph(self.genes, self.hidden, d_out * self.rank)
  self.f_col = Morph(self.genes, self.hidden, d_in * self.rank)
end

-- Row of linear (layer, type) in the stacked gene matrix: layer-major over the per-layer types,
-- then the layerless types in their declared order. layer is 0-based, nil for a layerless type.
function Genome:row(layer, type_name)
  local i = self.type_index[type_name]
  if not i then error("nn.Genome has no type '" .. tostring(type_name) .. "'", 3) end
  if self.types[i].layerless then
    if layer ~= nil then error("type '" .. type_name .. "' is layerless: genome:linear(nil, '" .. type_name .. "')", 3) end
    return self.layers * self.layered + (i - self.layered)
  end
  if type(layer) ~= "number" or layer < 0 or layer >= self.layers or layer % 1 ~= 0 then
    error(("nn.Genome: layer %s of type '%s' is outside 0 .. %d"):format(tostring(layer), type_name, self.layers - 1), 3)
  end
  return layer * self.layered + i
end

function Genome:linear(layer, type_name)
  local t = self.types[self.type_index[type_name] or 0]
  local index = self:row(layer, type_name)
  return GeneratedLinear(self, index, type_name .. (layer and ("@" .. layer) or ""), t.in_features, t.out_features)
end

-- The phenotype of this graph: rows [n_linears, D_out, R] and cols [n_linears, D_in, R], computed
-- on first use and kept for the genome's life, so a genome belongs to one graph (make it inside
-- M.build, as every module is).
function Genome:express()
  local e = rawget(self, "_expr")
  if e then return e end
  local L, P, G = self.layers, self.layered, self.genes
  local genes = self.layer_genes:reshape(L, 1, G) + self.type_genes:narrow(1, 1, P):reshape(1, P, G)
  genes = genes:reshape(L * P, G)
  if #self.types > P then genes = core.cat({ genes, self.type_genes:narrow(1, P + 1, #self.types - P) }, 1) end
  e = {
    rows = self.f_row(genes):reshape(self.count, self.d_out, self.rank),
    cols = self.f_col(genes):reshape(self.count, self.d_in, self.rank),
  }
  rawset(self, "_expr", e)
  return e
end

Genome.GeneratedLinear = GeneratedLinear
Genome.Morph = Morph

return Genome
