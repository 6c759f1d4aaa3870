#include "runtime/graph.h"

#include <sstream>

#include "runtime/op_attrs.h"
#include "runtime/shape_rules.h"

namespace golf {

namespace {
const OpInfo kOps[] = {
#define OP(name, arity, shape_rule, grad_rule, check) {#name, arity, GradCheck::check},
#include "runtime/ops.def"
#undef OP
};
}  // namespace

const OpInfo& op_info(Op op) { return kOps[size_t(op)]; }
int op_count() { return int(sizeof(kOps) / sizeof(kOps[0])); }

Op op_by_name(const std::string& name) {
  for (int i = 0; i < op_count(); i++)
    if (name == kOps[i].name) return Op(i);
  throw std::invalid_argument("unknown op '" + name + "'");
}

const char* grad_check_name(GradCheck c) {
  switch (c) {
    case GradCheck::FD: return "FD";
    case GradCheck::LEAF: return "LEAF";
    case GradCheck::BACKWARD: return "BACKWARD";
    case GradCheck::STE: return "STE";
    case GradCheck::EFFECT: return "EFFECT";
    case GradCheck::INT: return "INT";
  }
  return "?";
}

Value Graph::add(Op op, std::vector<Value> inputs, std::vector<int64_t> ints, std::vector<double> floats,
                 std::string str, std::vector<OutSpec> outs) {
  const OpInfo& info = op_info(op);
  Node n;
  n.op = op;
  n.inputs = std::move(inputs);
  n.ints = std::move(ints);
  n.floats = std::move(floats);
  n.str = std::move(str);
  n.outs = std::move(outs);
  n.loc = loc_;
  auto where = [&]() { return n.loc.empty() ? std::string() : " at " + n.loc; };
  if (info.arity >= 0 ? int(n.inputs.size()) != info.arity : n.inputs.empty())
    throw ShapeError("op '" + std::string(info.name) + "'" + where() + ": expects " +
                     (info.arity >= 0 ? std::to_string(info.arity) : std::string("at least 1")) +
                     " inputs, got " + std::to_string(n.inputs.size()));
  for (size_t i = 0; i < n.inputs.size(); i++) {
    const Value& v = n.inputs[i];
    if (v.node < 0 || v.node >= size() || v.out < 0 || v.out >= int(nodes_[size_t(v.node)].outs.size()))
      throw ShapeError("op '" + std::string(info.name) + "'" + where() + ": input " + std::to_string(i) + " (node " +
                       std::to_string(v.node) + ", output " + std::to_string(v.out) + ") is not a value of this graph of " +
                       std::to_string(size()) + " nodes");
  }
  check_attrs(op, n.ints, n.floats, where());
  std::vector<const OutSpec*> in;
  for (const Value& v : n.inputs) in.push_back(&spec(v));
  infer_shape(n, in);  // throws ShapeError naming the op, the shapes and n.loc
  for (const OutSpec& o : n.outs)  // a wrapped element count would allocate too little
    if (std::string why = shape_size_error(o.shape); !why.empty())
      throw ShapeError("op '" + std::string(info.name) + "'" + (n.str.empty() ? "" : " '" + n.str + "'") + where() + ": " + why);
  nodes_.push_back(std::move(n));
  return Value{size() - 1, 0};
}

void Graph::replace(int id, Op op, std::vector<Value> inputs, std::vector<int64_t> ints, std::vector<double> floats) {
  if (id < 0 || id >= size()) throw std::logic_error("Graph::replace: no node " + std::to_string(id));
  for (const Value& v : inputs)
    if (v.node >= id)
      throw std::logic_error("Graph::replace: " + describe(Value{id, 0}) + " cannot read node " + std::to_string(v.node) +
                             " (not earlier)");
  const std::string saved = loc_;
  loc_ = nodes_[size_t(id)].loc;
  try {
    add(op, std::move(inputs), std::move(ints), std::move(floats));  // checks and shapes it at the end
  } catch (...) {
    loc_ = saved;
    throw;
  }
  loc_ = saved;
  Node n = std::move(nodes_.back());
  nodes_.pop_back();
  const Node& old = nodes_[size_t(id)];
  bool same = n.outs.size() == old.outs.size();
  for (size_t k = 0; same && k < n.outs.size(); k++)
    same = n.outs[k].shape == old.outs[k].shape && n.outs[k].integer == old.outs[k].integer;
  if (!same)
    throw std::logic_error("Graph::replace: " + std::string(op_info(op).name) + " would change the outputs of " +
                           describe(Value{id, 0}));
  nodes_[size_t(id)] = std::move(n);
}

Value Graph::input(const std::string& name, const Shape& shape, bool integer) {
  if (Value v = find_input(name); v.valid()) {
    if (this->shape(v) != shape || spec(v).integer != integer)
      throw ShapeError("input '" + name + "' declared twice with different shapes: " +
                       shape_str(this->shape(v)) + " and " + shape_str(shape));
    return v;
  }
  return add(Op::input, {}, {}, {}, name, {OutSpec{shape, integer}});
}

Value Graph::param(const std::string& name, const Shape& shape) {
  if (Value v = find_param(name); v.valid()) {
    if (is_buffer(v)) throw ShapeError("'" + name + "' is a buffer and cannot also be used as a parameter");
    if (this->shape(v) != shape)
      throw ShapeError("parameter '" + name + "' used with shape " + shape_str(shape) + " but declared " +
                       shape_str(this->shape(v)) + (loc_.empty() ? "" : " (at " + loc_ + ")"));
    return v;
  }
  return add(Op::param, {}, {}, {}, name, {OutSpec{shape, false}});
}

Value Graph::buffer(const std::string& name, const Shape& shape, bool integer) {
  if (Value v = find_param(name); v.valid()) {
    if (this->shape(v) != shape || spec(v).integer != integer || !is_buffer(v))
      throw ShapeError("buffer '" + name + "' used as " + shape_str(shape) + (integer ? " integer" : "") +
                       " but declared as " + describe(v) + (loc_.empty() ? "" : " (at " + loc_ + ")"));
    return v;
  }
  return add(Op::param, {}, pack(attrs::param{.buffer = true}).ints, {}, name, {OutSpec{shape, integer}});
}

bool Graph::is_buffer(Value v) const {
  const Node& n = node(v.node);
  return n.op == Op::param && param_attrs(n).buffer;
}

std::vector<std::string> Graph::param_names() const {
  std::vector<std::string> names;
  for (int i = 0; i < size(); i++)
    if (nodes_[size_t(i)].op == Op::param && !is_buffer(Value{i, 0})) names.push_back(nodes_[size_t(i)].str);
  return names;
}

std::vector<std::string> Graph::buffer_names() const {
  std::vector<std::string> names;
  for (int i = 0; i < size(); i++)
    if (is_buffer(Value{i, 0})) names.push_back(nodes_[size_t(i)].str);
  return names;
}

Value Graph::find_param(const std::string& name) const {
  for (int i = 0; i < size(); i++)
    if (nodes_[size_t(i)].op == Op::param && nodes_[size_t(i)].str == name) return Value{i, 0};
  return Value{};
}

Value Graph::find_input(const std::string& name) const {
  for (int i = 0; i < size(); i++)
    if (nodes_[size_t(i)].op == Op::input && nodes_[size_t(i)].str == name) return Value{i, 0};
  return Value{};
}

std::string Graph::describe(Value v) const {
  const Node& n = node(v.node);
  std::ostringstream o;
  o << op_info(n.op).name << "#" << v.node;
  if (n.outs.size() > 1) o << "." << v.out;
  if (!n.str.empty()) o << " '" << n.str << "'";
  o << shape_str(spec(v).shape);
  if (!n.loc.empty()) o << " at " << n.loc;
  return o.str();
}

std::string Graph::dump() const {
  std::ostringstream o;
  for (int i = 0; i < size(); i++) {
    const Node& n = nodes_[size_t(i)];
    o << "%" << i << " = " << op_info(n.op).name << "(";
    for (size_t j = 0; j < n.inputs.size(); j++) {
      o << (j ? ", " : "") << "%" << n.inputs[j].node;
      if (nodes_[size_t(n.inputs[j].node)].outs.size() > 1) o << "." << n.inputs[j].out;
    }
    o << ")";
    if (!n.str.empty()) o << " '" << n.str << "'";
    if (!n.ints.empty()) {
      o << " ints=";
      for (size_t j = 0; j < n.ints.size(); j++) o << (j ? "," : "") << n.ints[j];
    }
    if (!n.floats.empty()) {
      o << " floats=";
      for (size_t j = 0; j < n.floats.size(); j++) o << (j ? "," : "") << n.floats[j];
    }
    for (const OutSpec& s : n.outs) o << " -> " << shape_str(s.shape) << (s.integer ? "i32" : "");
    if (!n.loc.empty()) o << "  @ " << n.loc;
    o << "\n";
  }
  return o.str();
}

}  // namespace golf
