// The graph IR: a list of nodes in build order (which is a valid topological order), each an op
// of runtime/ops.def with its inputs, static output shapes and the source location that built it.
// Graphs are dtype-agnostic: a value is either real (lowered to f32/f64/bf16 by the backend's
// numerics policy) or integer (i32).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace golf {

enum class Op : uint16_t {
#define OP(name, arity, shape_rule, grad_rule, check) name,
#include "runtime/ops.def"
#undef OP
};

enum class GradCheck : uint8_t { FD, LEAF, BACKWARD, STE, EFFECT, INT };

struct OpInfo {
  const char* name;
  int arity;  // -1: variadic
  GradCheck check;
};
const OpInfo& op_info(Op op);
int op_count();
Op op_by_name(const std::string& name);  // throws on an unknown name
const char* grad_check_name(GradCheck c);

// A shape error names the op, the shapes involved and where the node was built.
struct ShapeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Value {
  int node = -1;
  int out = 0;
  bool valid() const { return node >= 0; }
  bool operator==(const Value& o) const { return node == o.node && out == o.out; }
};

struct OutSpec {
  Shape shape;
  bool integer = false;
};

struct Node {
  Op op;
  std::vector<Value> inputs;
  std::vector<OutSpec> outs;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::string str;
  std::string loc;  // "file:line" of the code that built it ("" when unknown)
};

// Which sums of gradients a graph's training step folds into their producers once autograd has
// written them (fold_gradient_sums, runtime/fuse_pass.h): set by fuse_model on the graphs the CUDA
// backend runs, applied by TrainStep. Off: the graph as autograd builds it (the CPU's default).
struct GradientFolds {
  bool matmul_add = false, rms_norm_backward_add = false, channel_scale_backward_add = false;
  bool any() const { return matmul_add || rms_norm_backward_add || channel_scale_backward_add; }
};

class Graph {
 public:
  // Appends a node after checking arity and running the op's shape rule. For leaves, `outs` gives
  // the output spec; for every other op it is inferred.
  Value add(Op op, std::vector<Value> inputs, std::vector<int64_t> ints = {}, std::vector<double> floats = {},
            std::string str = {}, std::vector<OutSpec> outs = {});
  Value input(const std::string& name, const Shape& shape, bool integer = false);
  // Parameters are leaves keyed by name; asking twice for one name returns the same value, so the
  // gradient of a shared parameter is accumulated in one place.
  Value param(const std::string& name, const Shape& shape);
  // A buffer (ParamStore buffers: permutation tables, fixed constants) is a `param` leaf too,
  // marked by its attribute `buffer` (runtime/op_attrs.def) and integer when the buffer is: bound from the weight set like a
  // parameter, never differentiated (param_names() leaves it out).
  Value buffer(const std::string& name, const Shape& shape, bool integer);

  // Rewrites node `id` in place as `op` over `inputs` (each from an earlier node), keeping its
  // location; the op's shape rule must give the outputs the node had, so every reader stays valid.
  // A node no longer read afterwards is left in place (executors skip what no result needs).
  void replace(int id, Op op, std::vector<Value> inputs, std::vector<int64_t> ints = {}, std::vector<double> floats = {});

  void set_gradient_folds(GradientFolds f) { folds_ = f; }
  const GradientFolds& gradient_folds() const { return folds_; }

  const Node& node(int i) const { return nodes_.at(size_t(i)); }
  const std::vector<Node>& nodes() const { return nodes_; }
  int size() const { return int(nodes_.size()); }
  const OutSpec& spec(Value v) const { return nodes_.at(size_t(v.node)).outs.at(size_t(v.out)); }
  const Shape& shape(Value v) const { return spec(v).shape; }

  // Source location attached to nodes built from now on (the DSL sets the Lua file:line).
  void set_location(std::string loc) { loc_ = std::move(loc); }
  const std::string& location() const { return loc_; }

  std::vector<std::string> param_names() const;   // trainable parameters, in first-use order
  std::vector<std::string> buffer_names() const;  // buffers, in first-use order
  bool is_buffer(Value v) const;                  // a `param` leaf marked as a buffer
  Value find_param(const std::string& name) const;
  Value find_input(const std::string& name) const;

  std::string describe(Value v) const;  // "matmul#12[2, 3] at model.lua:7"
  std::string dump() const;             // one line per node, for debugging and --dump-graph

 private:
  std::vector<Node> nodes_;
  std::string loc_;
  GradientFolds folds_;
};

}  // namespace golf
