#include "runtime/op_attrs.h"

#include <sstream>

namespace golf {

namespace {

std::vector<AttrDecl> make_decls() {
  std::vector<AttrDecl> t(static_cast<size_t>(op_count()));
#define INT(type, name) d.fields.push_back({#name, AttrKind::integer});
#define REAL(name) d.fields.push_back({#name, AttrKind::real});
#define INTS(name) d.fields.push_back({#name, AttrKind::integer_list});
#define FLAG(name) d.fields.push_back({#name, AttrKind::flag});
#define ATTRS(op_name, fields)               \
  {                                          \
    AttrDecl& d = t[size_t(Op::op_name)];    \
    d.declared = true;                       \
    fields                                   \
  }
#include "runtime/op_attrs.def"
#undef ATTRS
#undef FLAG
#undef INTS
#undef REAL
#undef INT
  return t;
}

template <class T>
std::string list_str(const std::vector<T>& v) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < v.size(); i++) o << (i ? ", " : "") << v[i];
  o << "]";
  return o.str();
}

}  // namespace

const AttrDecl& attr_decl(Op op) {
  static const std::vector<AttrDecl> decls = make_decls();
  return decls.at(size_t(op));
}

std::string attr_names(Op op) {
  std::string s;
  for (const AttrField& f : attr_decl(op).fields) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s.empty() ? "none" : s;
}

void check_attrs(Op op, const std::vector<int64_t>& ints, const std::vector<double>& floats, const std::string& where) {
  const AttrDecl& d = attr_decl(op);
  const std::string name = "op '" + std::string(op_info(op).name) + "'" + where;
  if (!d.declared) throw ShapeError(name + " has no attribute declaration in runtime/op_attrs.def");
  size_t want_ints = 0, want_floats = 0;
  bool any_ints = false, flag = false;
  for (const AttrField& f : d.fields) {
    if (f.kind == AttrKind::integer) want_ints++;
    if (f.kind == AttrKind::real) want_floats++;
    if (f.kind == AttrKind::integer_list) any_ints = true;
    if (f.kind == AttrKind::flag) flag = true;
  }
  bool ints_ok = any_ints || (flag ? ints.empty() || ints == std::vector<int64_t>{1} : ints.size() == want_ints);
  if (!ints_ok || floats.size() != want_floats)
    throw ShapeError(name + ": its attributes are (" + attr_names(op) + "): " + std::to_string(want_ints) +
                     (flag ? " or 1" : "") + " integers and " + std::to_string(want_floats) + " reals, got integers " +
                     list_str(ints) + " and reals " + list_str(floats));
}

void wrong_op_for_attrs(const Node& n, Op wanted) {
  throw std::logic_error(std::string("the attributes of op '") + op_info(wanted).name + "' were read from a '" +
                         op_info(n.op).name + "' node");
}

}  // namespace golf
