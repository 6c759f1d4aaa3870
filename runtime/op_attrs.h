// Named op attributes, generated from runtime/op_attrs.def: for each op, a struct attrs::<op> with
// its fields, a reader <op>_attrs(node) and pack(attrs) giving the Node::ints / Node::floats that
// Graph::add stores. Everything that reads an op's attributes goes through these names.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/op_kinds.h"
#include "runtime/graph.h"

namespace golf {

using kernels::NgramKind;

namespace attrs {
// Each struct names its op, so make_op(attrs::slice{...}, {x}) needs no Op beside it.
#define INT(type, name) type name{};
#define REAL(name) double name = 0;
#define INTS(name) std::vector<int64_t> name;
#define FLAG(name) bool name = false;
#define ATTRS(op_name, fields) \
  struct op_name {             \
    static constexpr Op op = Op::op_name; \
    fields                     \
  };
#include "runtime/op_attrs.def"
#undef ATTRS
#undef FLAG
#undef INTS
#undef REAL
#undef INT
}  // namespace attrs

// A node's attributes as Graph::add stores them.
struct AttrValues {
  std::vector<int64_t> ints;
  std::vector<double> floats;
};

// A field of an op's declaration (for Graph::add's check, error messages and the table test).
enum class AttrKind : uint8_t { integer, real, integer_list, flag };
struct AttrField {
  const char* name;
  AttrKind kind;
};
struct AttrDecl {
  bool declared = false;  // the op has a line in op_attrs.def
  std::vector<AttrField> fields;
};
const AttrDecl& attr_decl(Op op);
std::string attr_names(Op op);  // "axis, start, end" (or "none")
// Throws ShapeError naming the op, its declared fields and the values given when `ints`/`floats`
// do not fit the declaration.
void check_attrs(Op op, const std::vector<int64_t>& ints, const std::vector<double>& floats, const std::string& where);

[[noreturn]] void wrong_op_for_attrs(const Node& n, Op wanted);

#define INT(type, name) a.name = static_cast<type>(n.ints.at(ki++));
#define REAL(name) a.name = n.floats.at(kf++);
#define INTS(name) a.name = n.ints;
#define FLAG(name) a.name = !n.ints.empty() && n.ints[0] == 1;
#define ATTRS(op_name, fields)                                   \
  inline attrs::op_name op_name##_attrs(const Node& n) {         \
    if (n.op != Op::op_name) wrong_op_for_attrs(n, Op::op_name); \
    attrs::op_name a;                                            \
    [[maybe_unused]] size_t ki = 0, kf = 0;                      \
    fields return a;                                             \
  }
#include "runtime/op_attrs.def"
#undef ATTRS
#undef FLAG
#undef INTS
#undef REAL
#undef INT

#define INT(type, name) v.ints.push_back(static_cast<int64_t>(a.name));
#define REAL(name) v.floats.push_back(a.name);
#define INTS(name) v.ints = a.name;
#define FLAG(name) \
  if (a.name) v.ints.push_back(1);
#define ATTRS(op_name, fields)                                \
  inline AttrValues pack([[maybe_unused]] const attrs::op_name& a) { \
    AttrValues v;                                             \
    fields return v;                                          \
  }
#include "runtime/op_attrs.def"
#undef ATTRS
#undef FLAG
#undef INTS
#undef REAL
#undef INT

// Writes attributes back into a node (shape rules normalize axes and resolve reshape's -1).
template <class A>
void set_attrs(Node& n, const A& a) {
  if (n.op != A::op) wrong_op_for_attrs(n, A::op);
  AttrValues v = pack(a);
  n.ints = std::move(v.ints);
  n.floats = std::move(v.floats);
}

}  // namespace golf
