-- golf.spectral: linears whose weight is a small learned coefficient matrix C between two fixed
-- orthonormal bases (SEEDS.md §4, the Fractal Compressor):
--   W = D_out[:r_out]ᵀ · C · D_in[:r_in],  C [r_out, r_in],  r = ⌈ρ·n⌉ (the lowest frequencies)
-- D_n is the orthonormal DCT-II (D[k,i] = s_k·cos(πk(2i+1)/(2n)), s_0 = √(1/n), s_k = √(2/n)) or the
-- normalized Hadamard basis in sequency order (row k has k sign changes; n a power of two).
-- The bases are constants the script builds: unstored buffers ({ stored = false }), never in a
-- checkpoint or the artifact; only C (and the shifts) are trained and exported.
--
-- A DCT basis of n columns is composed in the graph from four small tables rather than built
-- element by element in Lua (a [4096, 16384] basis would not fit the sandbox's memory): with
-- S = ⌈√n⌉ and k = a·S + b,  cos(kθ) = cos(aSθ)·cos(bθ) − sin(aSθ)·sin(bθ), so the [r, n] basis is
-- a broadcast product of [⌈r/S⌉, 1, n] and [1, S, n] tables (4·S·n values), times s_k.
local core = require "golf.core"
local module = require "golf.module"

local M = {}

-- r = ⌈ρ·n⌉, at least 1 and at most n.
function M.rank(rho, n)
  assert(type(rho) == "number" and rho > 0 and rho <= 1, "spectral rank: rho must be in (0, 1], got " .. tostring(rho))
  return math.max(1, math.min(n, math.ceil(rho * n)))
end

-- Bases: the bases of one graph (make one per build()), each [r, n] basis composed once.
--   kind "dct" | "hadamard"; eval "auto" (FLOP comparison) | "factored" | "materialized"
local Bases = {}
Bases.__index = Bases

function M.Bases(opts)
  opts = opts or {}
  local kind, eval = opts.kind or "dct", opts.eval or "auto"
  assert(kind == "dct" or kind == "hadamard", "spectral bases: kind must be 'dct' or 'hadamard', not '" .. tostring(kind) .. "'")
  assert(eval == "auto" or eval == "factored" or eval == "materialized",
         "spectral bases: eval must be 'auto', 'factored' or 'materialized', not '" .. tostring(eval) .. "'")
  return setmetatable({ kind = kind, eval = eval, cache = {} }, Bases)
end

local function const(name, shape, values)
  return core.buffer(name, shape, values, false, false)
end

local function dct_basis(n, r)
  local S = math.ceil(math.sqrt(n))
  local A = math.ceil(n / S)
  local function theta(i) return math.pi * (2 * i + 1) / (2 * n) end
  local function table_of(rows, step, f)
    local v = {}
    for a = 0, rows - 1 do
      for i = 0, n - 1 do v[#v + 1] = f(a * step * theta(i)) end
    end
    return v
  end
  local p = ("spectral.dct%d."):format(n)
  local ca = const(p .. "cos_coarse", { A, n }, table_of(A, S, math.cos))
  local sa = const(p .. "sin_coarse", { A, n }, table_of(A, S, math.sin))
  local cb = const(p .. "cos_fine", { S, n }, table_of(S, 1, math.cos))
  local sb = const(p .. "sin_fine", { S, n }, table_of(S, 1, math.sin))
  local s = {}
  for k = 0, n - 1 do s[k + 1] = k == 0 and math.sqrt(1 / n) or math.sqrt(2 / n) end
  local scale = const(p .. "scale", { n, 1 }, s)
  local rows = math.ceil(r / S)
  ca, sa = ca:narrow(1, 1, rows):reshape(rows, 1, n), sa:narrow(1, 1, rows):reshape(rows, 1, n)
  local d = (ca * cb:reshape(1, S, n) - sa * sb:reshape(1, S, n)):reshape(rows * S, n)
  return d:narrow(1, 1, r) * scale:narrow(1, 1, r)
end

-- Sequency-ordered Walsh–Hadamard rows: sequency k is natural (Sylvester) row bitrev(gray(k)).
local HADAMARD_MAX = 1 << 22
local function hadamard_basis(n, r)
  local bits = 0
  while (1 << bits) < n do bits = bits + 1 end
  if (1 << bits) ~= n then error(("spectral: a Hadamard basis needs a power of two, not %d (use basis = \"dct\")"):format(n), 4) end
  if r * n > HADAMARD_MAX then
    error(("spectral: a Hadamard basis of %d×%d is built element by element and is limited to %d values (use basis = \"dct\")")
          :format(r, n, HADAMARD_MAX), 4)
  end
  local function natural_row(k)
    local g, h = k ~ (k >> 1), 0
    for b = 0, bits - 1 do if g & (1 << b) ~= 0 then h = h | (1 << (bits - 1 - b)) end end
    return h
  end
  local s, v = 1 / math.sqrt(n), {}
  for k = 0, r - 1 do
    local h = natural_row(k)
    for i = 0, n - 1 do
      local x, parity = h & i, 0
      while x ~= 0 do parity = parity ~ 1; x = x & (x - 1) end
      v[#v + 1] = parity == 0 and s or -s
    end
  end
  return const(("spectral.hadamard%d.rows%d"):format(n, r), { r, n }, v)
end

-- The first r rows of the n-point basis, [r, n].
function Bases:get(n, r)
  local key = n .. ":" .. r
  local d = self.cache[key]
  if d == nil then
    d = self.kind == "dct" and dct_basis(n, r) or hadamard_basis(n, r)
    self.cache[key] = d
  end
  return d
end

-- y = x·Wᵀ for W = D_out[:r_out]ᵀ·C·D_in[:r_in] (C [r_out, r_in]), x [..., n_in] -> [..., n_out].
-- Factored, ((x·D_inᵀ)·Cᵀ)·D_out, costs N·(n_in·r_in + r_in·r_out + r_out·n_out) for N rows of x;
-- materializing W costs r_out·n_out·r_in + n_out·r_in·n_in once plus N·n_in·n_out: the cheaper
-- one is built (the same comparison holds for the backward pass, which mirrors the forward).
function Bases:apply(x, C, n_in, n_out)
  local r_out, r_in = C:size(1), C:size(2)
  local d_in, d_out = self:get(n_in, r_in), self:get(n_out, r_out)
  local N = x:numel() // n_in
  local factored = N * (n_in * r_in + r_in * r_out + r_out * n_out)
  local materialized = r_out * n_out * r_in + n_out * r_in * n_in + N * n_in * n_out
  local use_factored = self.eval == "factored" or (self.eval == "auto" and factored <= materialized)
  if use_factored then
    return core.matmul(core.linear(core.linear(x, d_in), C), d_out)
  end
  local W = core.matmul(core.matmul(d_out, C, true, false), d_in)  -- [n_out, n_in]
  return core.linear(x, W)
end

-- SpectralLinear(in, out, { rho, bases, zero_init, init }): y = x·Wᵀ with W spectral, no bias.
-- C's default init is U(−1/√r_in, 1/√r_in): with orthonormal bases ‖W‖_F = ‖C‖_F.
local SpectralLinear = module.class("SpectralLinear")
M.SpectralLinear = SpectralLinear

function SpectralLinear:init(in_features, out_features, opts)
  assert(opts and opts.rho and opts.bases, "nn SpectralLinear needs opts.rho and opts.bases")
  self.in_features, self.out_features, self.bases = in_features, out_features, opts.bases
  local r_in, r_out = M.rank(opts.rho, in_features), M.rank(opts.rho, out_features)
  local init = opts.init or (opts.zero_init and module.init.zeros() or module.init.uniform(1 / math.sqrt(r_in)))
  self.coef = module.parameter({ r_out, r_in }, init)
end

function SpectralLinear:forward(x)
  return self.bases:apply(x, self.coef, self.in_features, self.out_features)
end

-- SharedProjector(dim, up, { rho, bases }): W_q (dim → dim) and W_up (dim → up) as ONE spectral
-- base: a single coefficient matrix C [⌈ρ·up⌉, ⌈ρ·dim⌉] over the shared input basis D_dim;
--   W_up = D_up[:r_up]ᵀ · C · D_dim[:r_in],   W_q = D_dim[:r_q]ᵀ · C[:r_q] · D_dim[:r_in]
-- (r_q = ⌈ρ·dim⌉: q reads C's first, lowest-frequency rows through its own output basis), and each
-- use adds its own learned shift vector: q(x) = x·W_qᵀ + shift_q, up(x) = x·W_upᵀ + shift_up.
local SharedProjector = module.class("SharedProjector")
M.SharedProjector = SharedProjector

function SharedProjector:init(dim, up, opts)
  assert(opts and opts.rho and opts.bases, "SharedProjector needs opts.rho and opts.bases")
  assert(up >= dim, ("SharedProjector: the up projection (%d) must be at least as wide as q (%d)"):format(up, dim))
  self.dim, self.up, self.bases = dim, up, opts.bases
  local r_in = M.rank(opts.rho, dim)
  self.r_q = M.rank(opts.rho, dim)
  self.coef = module.parameter({ M.rank(opts.rho, up), r_in }, module.init.uniform(1 / math.sqrt(r_in)))
  self.shift_q = module.parameter({ dim }, module.init.zeros())
  self.shift_up = module.parameter({ up }, module.init.zeros())
end

function SharedProjector:q(x)
  return self.bases:apply(x, self.coef:narrow(1, 1, self.r_q), self.dim, self.dim) + self.shift_q
end

function SharedProjector:up_proj(x)
  return self.bases:apply(x, self.coef, self.dim, self.up) + self.shift_up
end

return M
