-- golf.nn: the module library. A model script starts with  local nn = require "golf.nn".
local core = require "golf.core"
local module = require "golf.module"
local loss = require "golf.loss"

local nn = {
  Model = module.Model,
  List = module.List,
  Parameter = module.parameter,
  Buffer = module.buffer,
  init = module.init,
  class = module.class,
  Linear = require "golf.linear",
  Embedding = require "golf.embedding",
  RMSNorm = require "golf.rms_norm",
  Attention = require "golf.attention",
  MLP = require "golf.mlp",
  Block = require "golf.block",
  UNet = require "golf.unet",
  NgramHash = require "golf.ngram",
  SmearGate = require "golf.smear",
  ValueEmbedding = require "golf.value_embedding",
  Genome = require "golf.genome",
  softcap = loss.softcap,
  cross_entropy = loss.cross_entropy,
}

function nn.rms_norm(x, eps) return core.rms_norm(x, eps or nn.RMSNorm.default_eps) end

-- Every core op is reachable from nn too: nn.relu(x), nn.matmul(a, b), nn.rope(x, {...}) ...
setmetatable(nn, { __index = core })

return nn
