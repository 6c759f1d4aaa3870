-- golf.module: what every nn module is made of.
--
-- A module is a table whose fields may hold child modules and parameters. A child's name is the
-- field it is assigned to, so parameter names follow the model's structure
-- ("blocks.3.attn.c_q.weight"), as PyTorch's state_dict keys do. Parameters are declared lazily,
-- on first use, once the module knows its place in the model: build a tree under nn.Model() and
-- call it.
local core = require "golf.core"

local M = {}

local function join(path, key)
  if path == "" then return tostring(key) end
  return path .. "." .. tostring(key)
end

local Parameter = {}
Parameter.__index = Parameter
M.Parameter = Parameter

local function is_module(v) return type(v) == "table" and rawget(v, "_children") ~= nil end
local function is_param(v) return getmetatable(v) == Parameter end
M.is_module = is_module

-- Gives m, and recursively its children, its path; registers it once (for `golfrt summary`).
local function attach(m, path)
  local old = rawget(m, "_path")
  if old ~= nil then
    if old ~= path then
      error(("%s is already part of the model as '%s' and cannot also be '%s': to share it, "
        .. "reuse the module without assigning it twice"):format(rawget(m, "_type"), old, path), 3)
    end
    return
  end
  rawset(m, "_path", path)
  if path ~= "" then core.module(path, rawget(m, "_type")) end
  for _, k in ipairs(rawget(m, "_order")) do
    local c = rawget(m, "_children")[k]
    if c ~= nil then attach(c, join(path, k)) end
  end
end

-- The graph tensor of parameter `k` of module `self`, declared on first use.
local function resolve(self, k, p)
  if p.var then return p.var end
  local path = rawget(self, "_path")
  if path == nil then
    error(("%s: parameter '%s' is used before its module is part of a model (assign the module to a "
      .. "field of nn.Model() or of a module that is)"):format(rawget(self, "_type"), k), 3)
  end
  if p.buffer then
    p.var = core.buffer(join(path, k), p.shape, p.values, p.integer, p.stored)
  else
    p.var = core.param(join(path, k), p.shape, p.init)
  end
  return p.var
end

local Module = {}
M.Module = Module

-- A new module class; instances are made by calling it: nn.Linear(512, 1024).
function M.class(name, parent)
  parent = parent or Module
  local cls = {}
  cls._type_name = name
  cls.__index = function(self, k)
    local c = rawget(self, "_children")
    if type(k) == "number" then return c[tostring(k - 1)] end  -- lists: l[1] is child "0"
    local v = c[k]
    if v ~= nil then return v end
    local p = rawget(self, "_params")[k]
    if p ~= nil then return resolve(self, k, p) end
    return cls[k]
  end
  cls.__newindex = function(self, k, v)
    if is_module(v) or is_param(v) then
      local children, params = rawget(self, "_children"), rawget(self, "_params")
      if children[k] == nil and params[k] == nil then table.insert(rawget(self, "_order"), k) end
      if is_module(v) then
        children[k] = v
        local path = rawget(self, "_path")
        if path ~= nil then attach(v, join(path, k)) end
      else
        params[k] = v
      end
    else
      rawset(self, k, v)
    end
  end
  cls.__call = function(self, ...) return self:forward(...) end
  cls.__len = function(self) return rawget(self, "_n") or 0 end
  cls.__tostring = function(self) return name .. "(" .. (rawget(self, "_path") or "detached") .. ")" end
  setmetatable(cls, {
    __index = parent,
    __call = function(c, ...)
      local self = setmetatable({ _children = {}, _params = {}, _order = {}, _type = name }, c)
      if c.init then c.init(self, ...) end
      return self
    end,
  })
  return cls
end

function Module:forward()
  error(rawget(self, "_type") .. " has no forward()", 2)
end

-- This module's place in the model ("" for the root, nil while detached).
function Module:path() return rawget(self, "_path") end

-- Every element of a tensor of `shape` from fn(i, j, ...) (1-based indices), row-major.
local function fill_values(shape, fn)
  local values, idx, n = {}, {}, 1
  for _, d in ipairs(shape) do n = n * d end
  for i = 1, #shape do idx[i] = 1 end
  for _ = 1, n do
    values[#values + 1] = fn(table.unpack(idx))
    for d = #shape, 1, -1 do
      idx[d] = idx[d] + 1
      if idx[d] <= shape[d] then break end
      idx[d] = 1
    end
  end
  return values
end

-- A parameter: shape and initializer. nn.Parameter({4, 512}, nn.init.ones())
function M.parameter(shape, init)
  init = init or { kind = "zeros" }
  if init.kind == "fill" then  -- constants computed by a Lua function of the 1-based indices
    init = { kind = "values", values = fill_values(shape, init.fn) }
  end
  return setmetatable({ shape = shape, init = init }, Parameter)
end

-- A buffer: a named tensor that is not trained (no gradient, optimizer state, averaging,
-- quantization or QAT) and not counted as a parameter, with values the script computes: a flat
-- row-major list, or a function of the 1-based indices. { integer = true } stores i32 values
-- (gather indices: nn.index_select), bit-exactly in checkpoints and the artifact. { stored = false }
-- (real buffers only) keeps a constant the script rebuilds on every run (fixed bases) out of
-- checkpoints and the artifact: loading them keeps the values declared here.
--   self.perm = nn.Buffer({ n }, nn.permutation(n, seed), { integer = true })
function M.buffer(shape, values, opts)
  opts = opts or {}
  if type(values) == "function" then values = fill_values(shape, values) end
  if type(values) ~= "table" then error("nn.Buffer(shape, values, opts): values must be a list or a function", 2) end
  return setmetatable({ shape = shape, values = values, integer = opts.integer and true or false,
                        stored = opts.stored ~= false, buffer = true }, Parameter)
end

-- The root of a model: its children's names start the parameter names.
local Model = M.class("Model")
M.Model = Model
function Model:init() rawset(self, "_path", "") end

-- n modules made by make(i), i = 0 .. n-1, named "0" .. "n-1"; indexed l[1] .. l[n] from Lua.
local List = M.class("List")
M.List = List
function List:init(n, make)
  rawset(self, "_n", n)
  for i = 0, n - 1 do self[tostring(i)] = make(i) end
end

M.init = {
  normal = function(std) return { kind = "normal", std = std } end,
  uniform = function(bound) return { kind = "uniform", bound = bound } end,
  zeros = function() return { kind = "zeros" } end,
  ones = function() return { kind = "ones" } end,
  orthogonal = function(gain) return { kind = "orthogonal", gain = gain or 1 } end,
  constant = function(v) return { kind = "constant", value = v } end,
  fill = function(fn) return { kind = "fill", fn = fn } end,
}

return M
