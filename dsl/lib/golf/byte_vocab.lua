-- ByteVocab{ vocab, embed, hidden, dim, std, out_std }: the byte-level virtual vocabulary (SEEDS.md §4). A small table E [vocab, embed]
-- (vocab 260: 4 specials + 256 bytes) and a 2-layer MLP "Assembler" A (embed → hidden → dim, GELU,
-- with biases, as PyTorch's nn.Linear) make the [vocab, dim] table A(E); tokens are looked up in it,
-- and it is also the tied output matrix: logits = h·A(E)ᵀ, so no separate head is stored.
-- A(E) is computed once per graph (A applied to every row of E).
local core = require "golf.core"
local module = require "golf.module"

local ByteVocab = module.class("ByteVocab")

function ByteVocab:init(o)
  self.vocab, self.embed, self.hidden, self.dim = o.vocab or 260, o.embed or 64, o.hidden or 288, o.dim
  assert(self.dim, "ByteVocab needs dim")
  self.emb = module.parameter({ self.vocab, self.embed }, module.init.normal(o.std or 1.0))
  self.fc1 = module.parameter({ self.hidden, self.embed }, module.init.uniform(1 / math.sqrt(self.embed)))
  self.fc1_bias = module.parameter({ self.hidden }, module.init.uniform(1 / math.sqrt(self.embed)))
  -- The output layer starts small (std out_std, bias 0), as a tied embedding does (the baseline's
  -- 0.005): the head's logits start near 0 and the loss at ln(vocab); the input side does not care,
  -- the model normalizes A(E)[t] first.
  self.fc2 = module.parameter({ self.dim, self.hidden }, module.init.normal(o.out_std or 0.005))
  self.fc2_bias = module.parameter({ self.dim }, module.init.zeros())
end

-- A(E), [vocab, dim].
function ByteVocab:assembled()
  local a = rawget(self, "_assembled")
  if a == nil then
    local h = core.gelu(core.linear(self.emb, self.fc1) + self.fc1_bias)
    a = core.linear(h, self.fc2) + self.fc2_bias
    rawset(self, "_assembled", a)
  end
  return a
end

function ByteVocab:forward(ids)
  return core.embedding(self:assembled(), ids)
end

function ByteVocab:tied_head(x)
  return core.linear(x, self:assembled())
end

return ByteVocab
