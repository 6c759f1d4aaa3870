// Parameters: deterministic hierarchical names ("blocks.3.attn.q.weight"), their shapes and
// initializers, and the weight sets that hold their values ("live", and later "ema", "swa",
// "teacher"): copies of the weights live in sets, never under new names. Optimizer rules, quant
// rules, checkpoints, the artifact and GPTQ all key on the name.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/ops.h"
#include "runtime/tensor.h"

namespace golf {

struct Init {
  enum class Kind { normal, uniform, zeros, ones, orthogonal, constant, values };
  Kind kind = Kind::zeros;
  double a = 0.0;              // normal: std; uniform: bound b of U(−b, b); orthogonal: gain; constant: value
  std::vector<double> values;  // values: every element, row-major (constants a script computed)

  static Init normal(double std) { return {Kind::normal, std, {}}; }
  static Init uniform(double bound) { return {Kind::uniform, bound, {}}; }
  static Init zeros() { return {Kind::zeros, 0.0, {}}; }
  static Init ones() { return {Kind::ones, 1.0, {}}; }
  static Init orthogonal(double gain = 1.0) { return {Kind::orthogonal, gain, {}}; }
  static Init constant(double v) { return {Kind::constant, v, {}}; }
  static Init from_values(std::vector<double> v) { return {Kind::values, 0.0, std::move(v)}; }
  std::string describe() const;
  bool operator==(const Init& o) const { return kind == o.kind && a == o.a && values == o.values; }
};

// A parameter is trained; a buffer is a named, non-trainable tensor living beside the parameters
// (permutation tables, fixed bases): it is declared with its values, bound to the graph like a
// parameter (a `param` leaf, integer when `integer`), carried by weight sets, checkpoints and the
// artifact (integer buffers bit-exactly), but never gets a gradient, optimizer state, weight
// averaging, quantization or QAT, and is not counted as a parameter.
struct ParamSpec {
  enum class Kind : uint8_t { parameter, buffer };
  std::string name;
  Shape shape;
  Init init;
  Kind kind = Kind::parameter;
  bool integer = false;  // buffers only: values are i32 in every weight set
  // Buffers only: false for real constants the script rebuilds on every run (fixed spectral bases):
  // every weight set holds them, but checkpoints and the artifact do not, and loading either keeps
  // the values the script declared.
  bool stored = true;
  bool is_buffer() const { return kind == Kind::buffer; }
};

class ParamStore {
 public:
  // Declares a parameter; declaring an existing name again with the same shape and init returns
  // it (that is how weights are shared), with anything else is an error naming both.
  const ParamSpec& declare(const std::string& name, const Shape& shape, const Init& init);
  // Declares a buffer holding `values` (row-major; integers when `integer`, stored as i32).
  // Redeclaring with the same shape, values and kind returns it; anything else is an error.
  // `stored` false: rebuilt by the script, never written to checkpoints or the artifact (real only).
  const ParamSpec& declare_buffer(const std::string& name, const Shape& shape, std::vector<double> values,
                                  bool integer, bool stored = true);
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const ParamSpec& spec(const std::string& name) const;
  // Parameters and buffers, in declaration order: check is_buffer() where only one kind applies.
  const std::vector<ParamSpec>& specs() const { return specs_; }
  int64_t count() const;         // total elements of the parameters (buffers excluded)
  int64_t buffer_count() const;  // total elements of the buffers

  // Fills the "live" set from each parameter's init (dtype f32 for training, f64 for checks);
  // buffers get their values (integer buffers as i32 whatever the dtype).
  void initialize(uint64_t seed, DType dtype = DType::f32);
  Tensor& get(const std::string& name, const std::string& set = "live");
  const Tensor& get(const std::string& name, const std::string& set = "live") const;
  bool has_set(const std::string& set) const { return sets_.count(set) != 0; }
  void copy_set(const std::string& from, const std::string& to);  // deep copy, on the set's device
  // Moves every weight set to device d (counted copies, runtime/device_memory.h). The trainer
  // moves them to its device once, before the first step, and back to the host at the hand-off
  // (docs/cuda.md "Residency"); tensors taken by get() before a move are the old copies.
  void move_to(Device d);
  std::vector<std::string> set_names() const;

 private:
  std::vector<ParamSpec> specs_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::map<std::string, Tensor>> sets_;
};

// Fills t (shape given) from an init spec with draws from rng.
class Rng;
void init_tensor(Tensor& t, const Init& init, Rng& rng);

// Builds hierarchical names while a model is being built: scope.sub("blocks").sub(3).param("w")
// declares "blocks.3.w" in the store and returns its graph leaf.
class Scope {
 public:
  Scope(ParamStore& store, Graph& g, std::string prefix = {});
  Scope sub(const std::string& name) const;
  Scope sub(int64_t index) const { return sub(std::to_string(index)); }
  Var param(const std::string& name, const Shape& shape, const Init& init) const;
  Var buffer(const std::string& name, const Shape& shape, std::vector<double> values, bool integer,
             bool stored = true) const;
  std::string full_name(const std::string& name) const;
  Graph& graph() const { return *g_; }
  ParamStore& store() const { return *store_; }

 private:
  ParamStore* store_;
  Graph* g_;
  std::string prefix_;
};

// A name component: letters, digits and '_' (dots separate components).
void check_param_name(const std::string& name);

}  // namespace golf
