// The op table's bookkeeping: every op of runtime/ops.def has its attribute declaration
// (runtime/op_attrs.def), a kernel in each backend built and a case in tests/support/op_cases.h,
// and a node's attributes sit where they always sat (graph dumps keep their form). Deleting an
// op's line from op_attrs.def, or its case from cpu_backend.cc or cuda_backend.cc, fails
// `every_op_is_declared_and_has_kernels`; deleting its case from op_cases.h fails
// `every_op_has_a_case`. Also: the errors of op building and of the op kinds print their values.
#include <gtest/gtest.h>

#include <set>

#include "kernels/cpu/cpu_kernels.h"
#include "runtime/backend_util.h"
#include "runtime/cpu_backend.h"
#include "runtime/ops.h"
#include "tests/support/errors.h"
#include "tests/support/op_cases.h"
#ifdef GOLFRT_WITH_CUDA
#include "kernels/cuda/cuda_kernels.h"
#include "runtime/cuda_backend.h"
#endif

namespace golf {
namespace {

TEST(OpTable, every_op_is_declared_and_has_kernels) {
  for (int i = 0; i < op_count(); i++) {
    const Op op = Op(i);
    const char* name = op_info(op).name;
    EXPECT_TRUE(attr_decl(op).declared) << "op '" << name << "' has no ATTRS line in runtime/op_attrs.def";
    EXPECT_TRUE(cpu_has_kernel(op)) << "op '" << name << "' has no case in runtime/cpu_backend.cc";
#ifdef GOLFRT_WITH_CUDA
    EXPECT_TRUE(cuda_has_kernel(op)) << "op '" << name << "' has no case in runtime/cuda_backend.cc";
#endif
  }
}

// Every op is used by a case of the shared table (its forward graph or its backward), except the
// effects, which have tests of their own (grad_check_test's EFFECT checks, cuda_ops_test's
// effects_write_their_targets and attention_cached tests). Leaves appear in every case.
TEST(OpTable, every_op_has_a_case) {
  std::set<Op> seen;
  for (const auto& [name, cs] : op_cases()) {
    auto b = build_op_case(cs, CaseSize::grad, 1, DType::f64);
    if (b->loss.valid() && !cs.zero_gradient) backward(b->loss, b->g.param_names());
    for (const Node& n : b->g.nodes()) seen.insert(n.op);
  }
  for (const char* effect : {"assign", "accumulate", "attention_cached"}) seen.insert(op_by_name(effect));
  for (int i = 0; i < op_count(); i++)
    EXPECT_TRUE(seen.count(Op(i))) << "op '" << op_info(Op(i)).name << "' has no case in tests/support/op_cases.h";
  for (const auto& [name, cs] : op_cases()) {
    // a case is named after its op, or after its op with a suffix, or says what it covers
    bool named_for_an_op = false;
    for (int i = 0; i < op_count(); i++) named_for_an_op |= name.rfind(op_info(Op(i)).name, 0) == 0;
    EXPECT_TRUE(named_for_an_op || name == "integer_layout" || name == "scalar_operand") << "case '" << name << "'";
  }
}

// The positions of Node::ints / Node::floats are a stored form: these are the layouts from before
// attributes had names.
TEST(OpTable, attributes_sit_where_they_always_sat) {
  Graph g;
  Var x = input(g, "x", {2, 5, 4, 8});
  auto ints_of = [&](Var v) { return g.node(v.v.node).ints; };
  auto floats_of = [&](Var v) { return g.node(v.v.node).floats; };
  EXPECT_EQ(ints_of(slice(x, -3, 1, 4)), (std::vector<int64_t>{1, 1, 4}));  // axis normalized
  EXPECT_EQ(ints_of(pad(x, 2, 3, 1)), (std::vector<int64_t>{2, 3, 1}));
  EXPECT_EQ(ints_of(matmul(x, x, true, false)), (std::vector<int64_t>{1, 0}));
  Var r = rope(x, 4, 500.0, 16, true);
  EXPECT_EQ(ints_of(r), (std::vector<int64_t>{4, 16, 1}));
  EXPECT_EQ(floats_of(r), (std::vector<double>{500.0}));
  Var q = attention(x, x, x, 0.25, true).y;
  EXPECT_EQ(ints_of(q), (std::vector<int64_t>{1}));
  EXPECT_EQ(floats_of(q), (std::vector<double>{0.25}));
  EXPECT_EQ(ints_of(sum(x, {3, -4})), (std::vector<int64_t>{0, 3}));  // sorted, non-negative
  EXPECT_EQ(ints_of(reshape(x, {-1, 8})), (std::vector<int64_t>{40, 8}));
  NgramHash h;
  h.n = 3, h.buckets = 99, h.kind = NgramKind::xxh3, h.p0 = 7, h.p1 = 11, h.p2 = 13, h.seed = ~uint64_t(0);
  EXPECT_EQ(ints_of(ngram_hash(input(g, "ids", {2, 6}, true), h)), (std::vector<int64_t>{3, 99, 1, 7, 11, 13, -1}));
  EXPECT_TRUE(ints_of(param(g, "w", {2})).empty());
  EXPECT_EQ(ints_of(buffer(g, "b", {2}, true)), (std::vector<int64_t>{1}));
  EXPECT_TRUE(g.is_buffer(buffer(g, "b", {2}, true).v));
  EXPECT_FALSE(g.is_buffer(param(g, "w", {2}).v));
  // and they read back by name
  const attrs::ngram_hash a = ngram_hash_attrs(g.node(ngram_hash(input(g, "ids", {2, 6}, true), h).v.node));
  EXPECT_EQ(a.kind, NgramKind::xxh3);
  EXPECT_EQ(a.seed, ~uint64_t(0));
  EXPECT_EQ(a.p2, 13);
}

TEST(OpTable, a_node_whose_attributes_do_not_fit_its_declaration_is_refused_with_its_values) {
  Graph g;
  Var x = input(g, "x", {4, 6});
  std::string e = error_of([&] { make_op(Op::slice, {x}, {1, 2}); });
  EXPECT_NE(e.find("op 'slice'"), std::string::npos) << e;
  EXPECT_NE(e.find("(axis, start, end)"), std::string::npos) << e;
  EXPECT_NE(e.find("got integers [1, 2]"), std::string::npos) << e;
  e = error_of([&] { make_op(Op::rms_norm, {x}, {}, {}); });
  EXPECT_NE(e.find("(eps)"), std::string::npos) << e;
  EXPECT_NE(e.find("reals []"), std::string::npos) << e;
  e = error_of([&] { make_op(Op::neg, {x}, {3}); });
  EXPECT_NE(e.find("(none)"), std::string::npos) << e;
  EXPECT_NE(e.find("got integers [3]"), std::string::npos) << e;
}

TEST(OpTable, reading_one_ops_attributes_from_another_names_both) {
  Graph g;
  Var y = neg(input(g, "x", {3}));
  std::string e = error_of([&] { slice_attrs(g.node(y.v.node)); });
  EXPECT_NE(e.find("'slice'"), std::string::npos) << e;
  EXPECT_NE(e.find("'neg' node"), std::string::npos) << e;
}

// backend_util.h's mappings name the op they were given (they used to say only "not a unary op").
TEST(OpTable, op_kind_errors_name_the_op) {
  Graph g;
  Var x = input(g, "x", {3});
  Var s = x + x;
  std::string e = error_of([&] { unary_args(g.node(s.v.node)); });
  EXPECT_NE(e.find("'add' is not a unary op"), std::string::npos) << e;
  e = error_of([&] { binary_kind(Op::exp); });
  EXPECT_NE(e.find("'exp' is not a binary op"), std::string::npos) << e;
  e = error_of([&] { attention_dims(g.node(s.v.node), {1, 1, 1, 1}, {1, 1, 1, 1}); });
  EXPECT_NE(e.find("'add' is not an attention op"), std::string::npos) << e;
}

// The binary kernels check their operands themselves (they are callable without the shape rules)
// and print every shape; the CUDA twin used to say only "binary: a does not broadcast". Neither
// check touches the pointers or a device.
TEST(OpTable, binary_kernel_errors_print_the_shapes) {
  using kernels::Binary;
  std::string e = error_of([] { cpu::binary<float>(Binary::add, {2, 3}, {3}, (const float*)nullptr, {2, 3}, nullptr, (float*)nullptr); });
  EXPECT_NE(e.find("a [3], b [2, 3], out [2, 3]"), std::string::npos) << e;
  e = error_of([] { cpu::binary<float>(Binary::add, {2, 3}, {2, 4}, (const float*)nullptr, {2, 3}, nullptr, (float*)nullptr); });
  EXPECT_NE(e.find("axis 1 does not broadcast"), std::string::npos) << e;
#ifdef GOLFRT_WITH_CUDA
  e = error_of([] { cuda::binary(Binary::mul, {4, 5}, {4, 2}, nullptr, {1, 5}, nullptr, nullptr); });
  EXPECT_NE(e.find("axis 1 does not broadcast (a [4, 2], b [1, 5], out [4, 5])"), std::string::npos) << e;
  e = error_of([] { cuda::binary(Binary::mul, {4, 5}, {5}, nullptr, {4, 5}, nullptr, nullptr); });
  EXPECT_NE(e.find("a [5], b [4, 5], out [4, 5]"), std::string::npos) << e;
  kernels::Dims many{2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1};
  kernels::Dims out(many.size(), 2);
  e = error_of([&] { cuda::binary(Binary::mul, out, many, nullptr, out, nullptr, nullptr); });
  EXPECT_NE(e.find("more than 8 broadcast groups"), std::string::npos) << e;
  EXPECT_NE(e.find("a [2, 1, 2"), std::string::npos) << e;
#endif
}

// Building an op from values it cannot use names the op and the input.
TEST(OpTable, building_errors_name_the_op_and_the_input) {
  Graph g, h;
  Var x = input(g, "x", {3}), y = input(h, "y", {3});
  std::string e = error_of([&] { add(x, Var()); });
  EXPECT_NE(e.find("op 'add': input 1 is an undefined value"), std::string::npos) << e;
  e = error_of([&] { mul(x, y); });
  EXPECT_NE(e.find("op 'mul': input 1 (input#0 'y'[3]) belongs to another graph"), std::string::npos) << e;
  e = error_of([&] { g.add(Op::neg, {Value{7, 0}}); });
  EXPECT_NE(e.find("op 'neg': input 0 (node 7, output 0) is not a value of this graph of 1 nodes"), std::string::npos) << e;
}

}  // namespace
}  // namespace golf
