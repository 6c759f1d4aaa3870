#include "runtime/params.h"

#include <cctype>
#include <cmath>
#include <sstream>

#include "runtime/rng.h"

namespace golf {

std::string Init::describe() const {
  std::ostringstream o;
  switch (kind) {
    case Kind::normal: o << "normal(std=" << a << ")"; break;
    case Kind::uniform: o << "uniform(" << -a << ", " << a << ")"; break;
    case Kind::zeros: o << "zeros"; break;
    case Kind::ones: o << "ones"; break;
    case Kind::orthogonal: o << "orthogonal(gain=" << a << ")"; break;
    case Kind::constant: o << "constant(" << a << ")"; break;
    case Kind::values: o << "values(" << values.size() << ")"; break;
  }
  return o.str();
}

void check_param_name(const std::string& name) {
  bool ok = !name.empty() && name.front() != '.' && name.back() != '.' && name.find("..") == std::string::npos;
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.');
  if (!ok)
    throw std::invalid_argument("parameter name '" + name +
                                "' is not valid: use letters, digits and '_', with '.' between components");
}

const ParamSpec& ParamStore::declare(const std::string& name, const Shape& shape, const Init& init) {
  check_param_name(name);
  if (std::string why = shape_size_error(shape); !why.empty()) throw std::invalid_argument("parameter '" + name + "': " + why);
  if (auto it = index_.find(name); it != index_.end()) {
    const ParamSpec& old = specs_[it->second];
    if (old.is_buffer())
      throw std::invalid_argument("'" + name + "' is a buffer and cannot also be declared as a parameter");
    if (old.shape != shape || !(old.init == init))
      throw std::invalid_argument("parameter '" + name + "' declared twice: " + shape_str(old.shape) + " " +
                                  old.init.describe() + " and " + shape_str(shape) + " " + init.describe());
    return old;
  }
  if (init.kind == Init::Kind::values && int64_t(init.values.size()) != shape_numel(shape))
    throw std::invalid_argument("parameter '" + name + "': " + std::to_string(init.values.size()) +
                                " initial values for shape " + shape_str(shape));
  if (init.kind == Init::Kind::orthogonal && shape.size() < 2)
    throw std::invalid_argument("parameter '" + name + "': orthogonal init needs rank >= 2, got " + shape_str(shape));
  index_[name] = specs_.size();
  specs_.push_back({name, shape, init});
  return specs_.back();
}

const ParamSpec& ParamStore::declare_buffer(const std::string& name, const Shape& shape, std::vector<double> values,
                                            bool integer, bool stored) {
  check_param_name(name);
  if (std::string why = shape_size_error(shape); !why.empty()) throw std::invalid_argument("buffer '" + name + "': " + why);
  if (integer && !stored)
    throw std::invalid_argument("buffer '" + name + "': integer buffers are always stored (stored = false is for real "
                                "constants the script rebuilds)");
  if (int64_t(values.size()) != shape_numel(shape))
    throw std::invalid_argument("buffer '" + name + "': " + std::to_string(values.size()) + " values for shape " +
                                shape_str(shape));
  if (integer)
    for (double v : values)
      if (v != std::floor(v) || v < -2147483648.0 || v > 2147483647.0)
        throw std::invalid_argument("integer buffer '" + name + "': value " + std::to_string(v) +
                                    " is not a 32-bit integer");
  Init init = Init::from_values(std::move(values));
  if (auto it = index_.find(name); it != index_.end()) {
    const ParamSpec& old = specs_[it->second];
    if (!old.is_buffer()) throw std::invalid_argument("'" + name + "' is a parameter and cannot also be declared as a buffer");
    if (old.shape != shape || old.integer != integer || old.stored != stored || !(old.init == init))
      throw std::invalid_argument("buffer '" + name + "' declared twice with different shapes, kinds or values: " +
                                  shape_str(old.shape) + " and " + shape_str(shape));
    return old;
  }
  index_[name] = specs_.size();
  specs_.push_back({name, shape, std::move(init), ParamSpec::Kind::buffer, integer, stored});
  return specs_.back();
}

const ParamSpec& ParamStore::spec(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw std::out_of_range("no parameter named '" + name + "'");
  return specs_[it->second];
}

int64_t ParamStore::count() const {
  int64_t n = 0;
  for (const ParamSpec& s : specs_)
    if (!s.is_buffer()) n += shape_numel(s.shape);
  return n;
}

int64_t ParamStore::buffer_count() const {
  int64_t n = 0;
  for (const ParamSpec& s : specs_)
    if (s.is_buffer()) n += shape_numel(s.shape);
  return n;
}

namespace {

// torch.nn.init.orthogonal_: a Gaussian matrix (rows = dim 0, cols = the rest), QR of its tall
// orientation with R's diagonal made positive, times gain. Modified Gram–Schmidt (twice, for
// stability) yields exactly that Q, since its R has a positive diagonal by construction.
void orthogonal(Tensor& t, double gain, Rng& rng) {
  int64_t rows = t.dim(0), cols = t.numel() / rows;
  std::vector<double> a(size_t(rows * cols));
  for (double& x : a) x = rng.normal();
  bool flip = rows < cols;
  int64_t m = flip ? cols : rows, n = flip ? rows : cols;  // tall m×n, column j = vector j
  auto at = [&](int64_t i, int64_t j) -> double& { return flip ? a[size_t(j * cols + i)] : a[size_t(i * cols + j)]; };
  for (int64_t j = 0; j < n; j++) {
    for (int pass = 0; pass < 2; pass++)
      for (int64_t p = 0; p < j; p++) {
        double d = 0;
        for (int64_t i = 0; i < m; i++) d += at(i, p) * at(i, j);
        for (int64_t i = 0; i < m; i++) at(i, j) -= d * at(i, p);
      }
    double norm = 0;
    for (int64_t i = 0; i < m; i++) norm += at(i, j) * at(i, j);
    norm = std::sqrt(norm);
    for (int64_t i = 0; i < m; i++) at(i, j) /= norm;
  }
  for (int64_t i = 0; i < t.numel(); i++) t.set(i, gain * a[size_t(i)]);
}

}  // namespace

void init_tensor(Tensor& t, const Init& init, Rng& rng) {
  switch (init.kind) {
    case Init::Kind::normal:
      for (int64_t i = 0; i < t.numel(); i++) t.set(i, init.a * rng.normal());
      break;
    case Init::Kind::uniform:
      for (int64_t i = 0; i < t.numel(); i++) t.set(i, init.a * (2.0 * rng.uniform() - 1.0));
      break;
    case Init::Kind::zeros: t.fill(0.0); break;
    case Init::Kind::ones: t.fill(1.0); break;
    case Init::Kind::constant: t.fill(init.a); break;
    case Init::Kind::orthogonal: orthogonal(t, init.a, rng); break;
    case Init::Kind::values:
      for (int64_t i = 0; i < t.numel(); i++) t.set(i, init.values[size_t(i)]);
      break;
  }
}

void ParamStore::initialize(uint64_t seed, DType dtype) {
  auto& live = sets_["live"];
  live.clear();
  for (const ParamSpec& s : specs_) {
    Tensor t(s.shape, s.integer ? DType::i32 : dtype);
    Rng rng = Rng::for_name(seed, s.name);
    init_tensor(t, s.init, rng);
    live[s.name] = t;
  }
}

Tensor& ParamStore::get(const std::string& name, const std::string& set) {
  return const_cast<Tensor&>(static_cast<const ParamStore*>(this)->get(name, set));
}

const Tensor& ParamStore::get(const std::string& name, const std::string& set) const {
  auto s = sets_.find(set);
  if (s == sets_.end()) throw std::out_of_range("no weight set '" + set + "' (initialize() creates \"live\")");
  auto it = s->second.find(name);
  if (it == s->second.end()) throw std::out_of_range("weight set '" + set + "' has no parameter '" + name + "'");
  return it->second;
}

void ParamStore::copy_set(const std::string& from, const std::string& to) {
  auto s = sets_.find(from);
  if (s == sets_.end()) throw std::out_of_range("no weight set '" + from + "'");
  auto& dst = sets_[to];
  dst.clear();
  for (auto& [name, t] : s->second) dst[name] = t.clone();
}

void ParamStore::move_to(Device d) {
  for (auto& [set, tensors] : sets_)
    for (auto& [name, t] : tensors)
      if (t.device() != d) t = t.to_device(d);
}

std::vector<std::string> ParamStore::set_names() const {
  std::vector<std::string> names;
  for (auto& [k, v] : sets_) names.push_back(k);
  return names;
}

Scope::Scope(ParamStore& store, Graph& g, std::string prefix) : store_(&store), g_(&g), prefix_(std::move(prefix)) {}

Scope Scope::sub(const std::string& name) const { return Scope(*store_, *g_, full_name(name)); }

std::string Scope::full_name(const std::string& name) const { return prefix_.empty() ? name : prefix_ + "." + name; }

Var Scope::param(const std::string& name, const Shape& shape, const Init& init) const {
  std::string full = full_name(name);
  store_->declare(full, shape, init);
  return golf::param(*g_, full, shape);
}

Var Scope::buffer(const std::string& name, const Shape& shape, std::vector<double> values, bool integer,
                 bool stored) const {
  std::string full = full_name(name);
  store_->declare_buffer(full, shape, std::move(values), integer, stored);
  return golf::buffer(*g_, full, shape, integer);
}

}  // namespace golf
