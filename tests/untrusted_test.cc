// A downloaded artifact is untrusted input (issue 17, items 1-9): no crash, no hang, no unbounded
// memory, no self-chosen score. Each hostile artifact is a real one with its script or header
// rewritten (tests/support/hostile_artifact.h), so it gets past the checksums.
//
// How these were checked to fail on the code before issue 17: the UntrustedCli tests ran against
// the previous golfrt binary (GOLFRT_CLI_UNDER_TEST, below) and all failed there: the lying script
// printed val_bpb 0.000000, --max-tokens 5 and --chunk 100000 printed 0.000000 with exit 0, the
// artifact without a tokenizer fingerprint and the one that peeks at later tokens were scored, the
// overflowing shape exited 139 (SIGSEGV) and a FIFO blocked until killed (124). The library tests
// below use interfaces that did not exist before (ModelLimits, Evaluator::set_untrusted,
// op_set_error, require_scored); what each asserts is the library side of one of those CLI
// failures or of the reports (the pattern and the loop hung, the parameter was allocated
// before it was refused, /dev/zero was read until memory ran out).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sys/wait.h>
#include <fstream>
#include <lua.hpp>

#include "runtime/artifact/op_set.h"
#include "runtime/data/dataset.h"
#include "runtime/fs.h"
#include "runtime/train/combiner_fit.h"
#include "runtime/train/evaluate.h"
#include "tests/support/errors.h"
#include "tests/support/hostile_artifact.h"

namespace golf {
namespace {

using namespace hostile;

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

// A byte table for the tiny model's 64 ids: one byte each.
ByteTable one_byte_table(int vocab) {
  ByteTable t;
  t.vocab = vocab;
  t.base_bytes.assign(size_t(vocab), 1);
  t.has_leading_space.assign(size_t(vocab), 0);
  t.is_boundary.assign(size_t(vocab), 0);
  return t;
}

std::vector<uint16_t> stream(int64_t n, int vocab, uint64_t seed = 3) {
  Rng rng(seed);
  std::vector<uint16_t> t(static_cast<size_t>(n));
  for (auto& v : t) v = uint16_t(rng.below(uint64_t(vocab)));
  return t;
}

// decode's scoring of an artifact, as cli/decode.cc does it.
EvalResult score(const std::string& path, const std::vector<uint16_t>& val, int64_t causal_windows = 0) {
  LoadedModel m = load_model(path);
  Evaluator ev(m.factory, m.seq_len, 2, DType::f32);
  ev.set_untrusted(ModelLimits{}.memory_budget);
  ev.check_causal(m.eval_model->store, "live", val, 64, causal_windows);
  EvalResult r = ev.run(m.eval_model->store, "live", val, one_byte_table(64));
  require_scored(r, path);
  return r;
}

// ---- 1. shape products never wrap -----------------------------------------------------------

TEST(Untrusted, shape_numel_refuses_products_that_do_not_fit) {
  EXPECT_EQ(shape_numel({3, 0, int64_t(1) << 62}), 0);
  EXPECT_EQ(shape_numel({int64_t(1) << 30, int64_t(1) << 30}), int64_t(1) << 60);
  EXPECT_TRUE(has(error_of([] { shape_numel({int64_t(1) << 32, int64_t(1) << 32}); }), "more than 2^60"));
  EXPECT_TRUE(has(error_of([] { shape_numel({int64_t(1) << 62, 4}); }), "more than 2^60"));
  EXPECT_TRUE(has(error_of([] { Tensor t({-1, 4}, DType::f32); }), "negative dimension"));
}

TEST(Untrusted, an_expanded_shape_past_the_limit_is_refused_at_its_script_line) {
  RealModel r = real_model();
  Artifact a = with_script_edit(r.artifact, kInputLine,
                                kInputLine + " ; local big = nn.full({1,4},1):expand({2^62,4}):narrow(1, 2^40, 1):sum()");
  std::string e = error_of([&] { load_model(write(a, "expand")); });
  EXPECT_TRUE(has(e, "more than 2^60")) << e;
  EXPECT_TRUE(has(e, "expand")) << e;
  EXPECT_TRUE(has(e, "baseline.lua:37")) << e;  // the line of the edit
}

TEST(Untrusted, a_stored_buffer_past_the_limit_is_refused_naming_it) {
  RealModel r = real_model();
  Artifact a = with_script_edit(r.artifact, kInputLine,
                                kInputLine + " ; require('golf.core').buffer('huge', {2^62, 4}, {})");
  std::string e = error_of([&] { load_model(write(a, "buffer")); });
  EXPECT_TRUE(has(e, "buffer 'huge'")) << e;
  EXPECT_TRUE(has(e, "more than 2^60")) << e;
  EXPECT_TRUE(has(e, "baseline.lua:37")) << e;
}

// ---- 2. a wall-clock deadline, inside the pattern functions too ----------------------------

// In a child process with an alarm: on the code before the deadline these hung.
void expect_stopped_by_deadline(const std::string& code, const std::string& name) {
  RealModel r = real_model();
  const std::string path = write(with_script_edit(r.artifact, kInputLine, kInputLine + " ; " + code), name);
  auto child = [&] {
        alarm(60);
        ModelLimits lim;
        lim.script_seconds = 1;
        auto t0 = std::chrono::steady_clock::now();
        std::string e = error_of([&] { load_model(path, lim); });
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "%s (%.2f s)\n", e.c_str(), s);
        std::_Exit(has(e, "time limit") && s < 5 ? 0 : 1);
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "time limit");
}

TEST(Untrusted, a_backtracking_pattern_stops_at_the_deadline) {
  expect_stopped_by_deadline("local _ = string.rep('a', 100000):find('.-.-.-.-b')", "pattern");
  expect_stopped_by_deadline("for _ in string.rep('a', 100000):gmatch('.-.-.-b') do end", "gmatch");
  expect_stopped_by_deadline("local _ = string.rep('a', 100000):gsub('.-.-.-b', 'x')", "gsub");
}

TEST(Untrusted, a_plain_loop_stops_at_the_deadline_not_the_instruction_limit) {
  expect_stopped_by_deadline("local i = 0 while true do i = i + 1 end", "loop");
}

// golfrt's pattern functions against Lua's own, on what scripts and rules use and on edge cases.
TEST(Untrusted, the_bounded_pattern_functions_agree_with_lua) {
  lua_State* ref = luaL_newstate();
  luaL_openlibs(ref);
  Sandbox sb;
  const char* probes[] = {
      "return ('blocks.3.attn.c_q.weight'):match('^blocks%.%d+%..*weight$')",
      "return ('tok_emb.weight'):find('emb', 1, true)",
      "return ('hello world from lua'):find('(o)(r)')",
      "return ('  key = value  '):match('^%s*(%w+)%s*=%s*(%w+)%s*$')",
      "return ('abc'):find('b', -1)",
      "return ('abc'):find('', 10)",
      "return ('abc'):find('', 4)",
      "return ('THE (quick) fox'):find('%((%a+)%)')",
      "return ('f(a(b)c)d'):match('%b()')",
      "return ('THE (quick) fox'):gsub('%f[%a]%a+', function(w) return w:lower() end)",
      "return ('hello world'):gsub('o', {o = '0'})",
      "return ('hello world'):gsub('(%w+) (%w+)', '%2 %1 %0 %%')",
      "return ('abc'):gsub('', '-')",
      "return ('abc'):gsub('%w', '%0%0', 2)",
      "return ('x = 1, y = 2'):gsub('(%w+) = (%w+)', '%2 = %1')",
      "local t = {} for k, v in ('a=1, b=2, c=3'):gmatch('(%w+)=(%w+)') do t[#t+1] = k .. v end return table.concat(t, ',')",
      "local t = {} for w in ('one two  three'):gmatch('%a*') do t[#t+1] = '[' .. w .. ']' end return table.concat(t)",
      "local t = {} for p in ('abc'):gmatch('()') do t[#t+1] = p end return table.concat(t, ',')",
      "return ('aaa'):match('^(a-)a$')",
      "return ('[x]'):match('[]x[]+')",
      "return ('a.b-c'):gsub('[%.%-]', '_')",
      "return ('abcabc'):match('(a)(b)c%1%2')",
      "return ('2024-12-04'):match('(%d+)-(%d+)-(%d+)')",
      "return ('  trim  '):match('^%s*(.-)%s*$')",
      "return ('hello'):find('l+')",
      "return ('hello'):match('()ll()')",
      "return ('x^y'):find('^', 1, true)",
      "return ('a$b'):match('a$b')",
      "return ('%d'):gsub('%%', 'pct')",
      "return pcall(string.find, 'a', '%')",
      "return pcall(string.find, 'a', '[a')",
      "return pcall(string.gsub, 'a', '(a', 'x')",
      "return pcall(string.gsub, 'abc', 'b', '%9')",
      "return pcall(string.match, 'a', '%f')",
  };
  for (const char* code : probes) {
    auto run = [&](lua_State* L) {
      int top = lua_gettop(L);
      if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, LUA_MULTRET, 0) != LUA_OK) {
        std::string e = std::string("error: ") + lua_tostring(L, -1);
        lua_settop(L, top);
        return e;
      }
      std::string out;
      for (int i = top + 1; i <= lua_gettop(L); i++) {
        // Error messages carry the chunk's name; compare their text after it.
        std::string v = luaL_tolstring(L, i, nullptr);
        lua_pop(L, 1);
        size_t colon = v.find("]:");
        out += (colon == std::string::npos ? v : v.substr(v.find(' ', colon) + 1)) + "|";
      }
      lua_settop(L, top);
      return out;
    };
    EXPECT_EQ(run(sb.L()), run(ref)) << code;
  }
  lua_close(ref);
}

// ---- 3. what a script can make C++ allocate ----------------------------------------------------

TEST(Untrusted, a_parameter_beyond_the_artifacts_own_bytes_is_refused_before_it_is_allocated) {
  RealModel r = real_model();
  // 2^26 floats: 256 MiB, a thousand times the tiny artifact's tensors.
  Artifact a = with_script_edit(r.artifact, kInputLine,
                                kInputLine + " ; local huge = require('golf.core').param('huge', {2^13, 2^13}, {kind = 'zeros'})");
  std::string e = error_of([&] { load_model(write(a, "param")); });
  EXPECT_TRUE(has(e, "parameter 'huge'")) << e;
  EXPECT_TRUE(has(e, "allocation budget")) << e;
  EXPECT_TRUE(has(e, "baseline.lua:37")) << e;
}

TEST(Untrusted, a_value_beyond_the_stated_budget_is_refused_at_its_line) {
  RealModel r = real_model();
  Artifact a = with_script_edit(r.artifact, kInputLine, kInputLine + " ; local big = nn.full({2^31, 1}, 1)");
  std::string e = error_of([&] { load_model(write(a, "full")); });
  EXPECT_TRUE(has(e, "allocation budget")) << e;
  EXPECT_TRUE(has(e, "baseline.lua:37")) << e;
}

TEST(Untrusted, a_plan_beyond_the_budget_is_refused_before_allocating) {
  RealModel r = real_model();
  std::string path = write(r.artifact, "plan");
  LoadedModel m = load_model(path);
  // What metadata seq_len = 1e6 asks for, at a budget the tiny model's real plan fits in.
  Evaluator ev(m.factory, 1'000'000, 8, DType::f32);
  ev.set_untrusted(size_t(64) << 20);
  std::vector<uint16_t> val = stream(8'000'001, 64);
  std::string e = error_of([&] { ev.run(m.eval_model->store, "live", val, one_byte_table(64), 1); });
  EXPECT_TRUE(has(e, "beyond the") && has(e, "budget")) << e;
  Evaluator fits(m.factory, 16, 8, DType::f32);
  fits.set_untrusted(size_t(64) << 20);
  EXPECT_GT(fits.run(m.eval_model->store, "live", stream(200, 64), one_byte_table(64)).targets, 0);
}

// ---- 4. the score is golfrt's, from the logits --------------------------------------------------

TEST(Untrusted, a_script_that_lies_about_its_loss_gets_its_true_score) {
  RealModel r = real_model();
  std::vector<uint16_t> val = stream(16 * 12 + 1, 64);
  EvalResult honest = score(write(r.artifact, "honest"), val);
  Artifact lying = with_script_edit(r.artifact, kReturnLine, "return 0 * nn.cross_entropy(logits, g.targets, cfg.softcap), nn.softcap(logits, cfg.softcap)");
  EvalResult lied = score(write(lying, "lying"), val);
  EXPECT_GT(honest.bpb(), 1.0);
  EXPECT_EQ(lied.nats, honest.nats);
  EXPECT_EQ(lied.targets, honest.targets);
}

TEST(Untrusted, an_honest_score_is_exactly_what_its_own_loss_gives) {
  // The fused softcap of golfrt's cross-entropy on the script's pre-cap logits: the same numbers
  // as the script's loss, so no earlier decode result moves.
  RealModel r = real_model();
  std::vector<uint16_t> val = stream(16 * 12 + 1, 64);
  LoadedModel m = load_model(write(r.artifact, "exact"));
  Evaluator trusted(m.factory, 16, 2, DType::f32), untrusted(m.factory, 16, 2, DType::f32);
  untrusted.set_untrusted(0);
  EvalResult a = trusted.run(m.eval_model->store, "live", val, one_byte_table(64));
  EvalResult b = untrusted.run(m.eval_model->store, "live", val, one_byte_table(64));
  EXPECT_EQ(a.nats, b.nats);
}

TEST(Untrusted, a_script_without_logits_is_refused) {
  RealModel r = real_model();
  Artifact a = with_script_edit(r.artifact, kReturnLine, "return nn.cross_entropy(logits, g.targets, cfg.softcap)");
  std::string e = error_of([&] { score(write(a, "nologits"), stream(100, 64)); });
  EXPECT_TRUE(has(e, "returns no logits")) << e;
}

TEST(Untrusted, a_script_that_copies_the_targets_into_its_logits_is_refused) {
  RealModel r = real_model();
  Artifact a = with_script_edit(r.artifact, kInputLine,
                                "local x0 = nn.rms_norm(m.tok_emb(g.tokens) + m.tok_emb(g.targets) * 10, cfg.norm_eps)");
  std::string e = error_of([&] { score(write(a, "copy"), stream(100, 64)); });
  EXPECT_TRUE(has(e, "depend on the targets")) << e;
}

TEST(Untrusted, a_script_that_sees_later_tokens_is_refused_naming_the_first_position) {
  RealModel r = real_model();
  // Every position mixes in the mean over the whole window: attention with equal weights and no
  // causal mask.
  Artifact a = with_script_edit(r.artifact, kInputLine,
                                kInputLine + " ; x0 = x0 + x0:mean(2):expand(x0:size(1), x0:size(2), x0:size(3))");
  std::vector<uint16_t> val = stream(16 * 12 + 1, 64);
  std::string e = error_of([&] { score(write(a, "peek"), val, 2); });
  EXPECT_TRUE(has(e, "not causal")) << e;
  EXPECT_TRUE(has(e, "position 0 ")) << e;
  // The honest model passes the same check.
  EXPECT_EQ(error_of([&] { score(write(r.artifact, "causal"), val, 2); }), "(no error)");
}

TEST(Untrusted, every_example_model_passes_the_causality_check_and_is_scored) {
  // An honest model must not be refused: each example's tiny preset, random weights, as decode
  // scores it (the logits check, the golfrt loss, three windows of the causality check).
  for (const char* name : {"baseline", "biodna", "combiner", "fractal", "frugendorff", "micro_crawler", "prism"}) {
    RealModel r = example_model(name, Overrides{"tiny", {}});
    const int vocab = int(r.script->config_number("vocab"));
    LoadedModel m = load_model(write(r.artifact, std::string("example_") + name));
    Evaluator ev(m.factory, m.seq_len, 2, DType::f32);
    ev.set_untrusted(ModelLimits{}.memory_budget);
    std::vector<uint16_t> val = stream(16 * 6 + 1, vocab);
    EXPECT_EQ(error_of([&] { ev.check_causal(m.eval_model->store, "live", val, vocab, 3); }), "(no error)") << name;
    EvalResult res = ev.run(m.eval_model->store, "live", val, one_byte_table(vocab));
    EXPECT_EQ(error_of([&] { require_scored(res, name); }), "(no error)") << name;
  }
}

TEST(Untrusted, the_combiners_last_position_path_scores_the_same_way) {
  RealModel r = example_model("combiner", Overrides{"tiny", {}});
  LoadedModel m = load_model(write(r.artifact, "combiner_last"));
  std::vector<uint16_t> val = stream(16 * 20 + 1, 64);
  LastPositionScores trusted = score_last_combined(m.factory, m.eval_model->store, "live", val, one_byte_table(64), 16, 32, 4);
  LastPositionScores untrusted = score_last_combined(m.factory, m.eval_model->store, "live", val, one_byte_table(64), 16, 32,
                                                     4, 0, DType::f32, Device::cpu, size_t(1) << 30);
  ASSERT_GT(trusted.base.targets, 0);
  EXPECT_EQ(untrusted.base.nats, trusted.base.nats);  // honest: the same numbers
  EXPECT_EQ(untrusted.combined.nats, trusted.combined.nats);
  // A combiner script that lies about its loss is scored from its logits.
  Artifact lying = with_script_edit(r.artifact, "local function finish(logits) return nn.cross_entropy(logits, g.targets, cfg.softcap)",
                                    "local function finish(logits) return 0 * nn.cross_entropy(logits, g.targets, cfg.softcap)");
  LoadedModel l = load_model(write(lying, "combiner_lying"));
  LastPositionScores lied = score_last_combined(l.factory, l.eval_model->store, "live", val, one_byte_table(64), 16, 32, 4, 0,
                                                DType::f32, Device::cpu, size_t(1) << 30);
  EXPECT_EQ(lied.combined.nats, trusted.combined.nats);
  EXPECT_GT(lied.combined.nats, 0);
}

// ---- 5, 6. nothing scored, or NaN, is an error -------------------------------------------------

TEST(Untrusted, zero_targets_is_an_error) {
  RealModel r = real_model();
  std::string e = error_of([&] { score(write(r.artifact, "short"), stream(10, 64)); });
  EXPECT_TRUE(has(e, "scores no targets")) << e;
}

TEST(Untrusted, a_nan_weight_is_refused_naming_the_tensor) {
  RealModel r = real_model();
  Artifact a = r.artifact;
  for (QTensor& t : a.tensors)
    if (t.name == "blocks.0.attn.q_gain") {
      t.values = t.values.clone();  // copies of an Artifact share their tensors' bytes
      t.values.set(1, std::nan(""));
    }
  std::string e = error_of([&] { write(a, "nan"); });
  EXPECT_TRUE(has(e, "'blocks.0.attn.q_gain'") && has(e, "not finite")) << e;  // the writer
  // and the reader, for a file someone else wrote: the value's bytes patched in an uncompressed,
  // unshuffled body, the checksums recomputed.
  std::string elements;  // its first three values as stored
  size_t width = 0;
  for (const QTensor& t : r.artifact.tensors)
    if (t.name == "blocks.0.attn.q_gain") {
      width = dtype_size(t.values.dtype());
      elements.assign(static_cast<const char*>(t.values.raw()), 3 * width);
    }
  ASSERT_TRUE(width == 2 || width == 4);
  std::string bytes = encode_artifact(r.artifact, {"none", false, true});
  size_t at = bytes.find(elements);
  ASSERT_NE(at, std::string::npos);
  const uint32_t nan32 = 0x7fc00000u;
  const uint16_t nan16 = 0x7e00u;  // fp16 (the bf16 quiet NaN would be 0x7fc0: also not finite in fp16)
  if (width == 4) std::memcpy(&bytes[at + 4], &nan32, 4);
  else std::memcpy(&bytes[at + 2], &nan16, 2);
  rehash(bytes);
  std::string path = ::testing::TempDir() + "hostile_nan_read.bin";
  write_file_atomic(path, bytes);
  e = error_of([&] { load_model(path); });
  EXPECT_TRUE(has(e, "'blocks.0.attn.q_gain'") && has(e, "not finite")) << e;
  // and a score that came out NaN anyway
  EvalResult nan_result;
  nan_result.targets = 3;
  nan_result.bytes = 3;
  nan_result.nats = std::nan("");
  nan_result.first_nonfinite = 7;
  e = error_of([&] { require_scored(nan_result, "x"); });
  EXPECT_TRUE(has(e, "token 7") && has(e, "not finite")) << e;
}

TEST(Untrusted, an_fp16_weight_that_overflows_at_export_is_an_error_naming_it) {
  RealModel r = real_model();
  r.model->store.get("tok_emb.weight").set(0, 1e30);  // --set embed_std=1e30, in short
  ExportInfo info;
  info.script_name = "baseline.lua";
  info.seq_len = 16;
  info.tokenizer = Json::object();
  Artifact a = export_model(*r.script, r.model->store, "live", info);
  for (QTensor& t : a.tensors)  // kept in fp16 as a small embedding would be
    if (t.name == "tok_emb.weight") t = quantize(t.name, r.model->store.get("tok_emb.weight"), QuantSpec{"fp16"});
  std::string e = error_of([&] { encode_artifact(a); });
  EXPECT_TRUE(has(e, "'tok_emb.weight'") && has(e, "not finite")) << e;
}

// ---- 7. op tables and tokenizers ------------------------------------------------------------------

TEST(Untrusted, an_artifact_decodes_while_ops_are_only_appended) {
  std::vector<std::string> ours = current_op_names();
  OpSet old = op_set_of(ours);
  EXPECT_EQ(op_set_error(old, ours), "");
  std::vector<std::string> grown = ours;
  grown.push_back("some_new_op");  // a later golfrt with one more op
  EXPECT_EQ(op_set_error(old, grown), "");
  EXPECT_TRUE(has(op_set_error(op_set_of(grown), ours), "newer golfrt"));
  std::vector<std::string> reordered = ours;
  std::swap(reordered[3], reordered[4]);
  EXPECT_TRUE(has(op_set_error(old, reordered), "not the start of this golfrt's"));
}

TEST(Untrusted, an_artifact_with_a_foreign_op_table_is_refused) {
  RealModel r = real_model();
  Artifact a = r.artifact;
  a.op_set.fingerprint ^= 1;
  std::string e = error_of([&] { load_model(write(a, "ops")); });
  EXPECT_TRUE(has(e, "op table")) << e;
  std::vector<std::string> earlier = current_op_names();
  earlier.pop_back();  // built before the last op was added
  a.op_set = op_set_of(earlier);
  EXPECT_EQ(error_of([&] { load_model(write(a, "ops_prefix")); }), "(no error)");
}

// ---- 8. only regular files, no more than the header says ------------------------------------------

TEST(Untrusted, a_fifo_is_refused_without_blocking) {
  std::string fifo = ::testing::TempDir() + "untrusted_fifo_" + std::to_string(::getpid());
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto child = [&] {
        alarm(20);
        std::string e = error_of([&] { read_artifact(fifo); });
        std::fprintf(stderr, "%s\n", e.c_str());
        std::_Exit(has(e, "a FIFO") ? 0 : 1);
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "FIFO");
  ::unlink(fifo.c_str());
}

void limit_address_space(size_t bytes) {
  struct rlimit lim;
  lim.rlim_cur = lim.rlim_max = bytes;
  setrlimit(RLIMIT_AS, &lim);
}

TEST(Untrusted, a_device_or_a_huge_file_is_refused_without_reading_it) {
  // A sparse 64 GiB file behind a real header: nothing past the header is read.
  RealModel r = real_model();
  std::string path = write(r.artifact, "sparse");
  ASSERT_EQ(::truncate(path.c_str(), off_t(64) << 30), 0);
  auto child = [&] {
        alarm(20);
        limit_address_space(size_t(1) << 30);  // the old reader read until this ran out
        std::string a = error_of([] { read_artifact("/dev/zero"); });
        std::string b = error_of([&] { read_artifact(path); });
        std::fprintf(stderr, "%s\n%s\n", a.c_str(), b.c_str());
        std::_Exit(has(a, "character device") && has(b, "bytes after") ? 0 : 1);
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "character device");
  ::unlink(path.c_str());
}

// ---- 9. whatever train writes, decode reads --------------------------------------------------------

TEST(Untrusted, train_refuses_a_parameter_decode_would_refuse) {
  std::string dir = ::testing::TempDir();
  std::ofstream(dir + "untrusted_big_param.lua")
      << "local core = require 'golf.core'\nlocal nn = require 'golf.nn'\nlocal M = { config = {} }\n"
         "function M.build(g, cfg, mode)\n"
         "  local w = core.param('w', {2^32, 2^32}, {kind = 'zeros'})\n"
         "  local logits = core.embedding(w, g.tokens)\n"
         "  return nn.cross_entropy(logits, g.targets), logits\nend\nreturn M\n";
  ModelScript s(dir + "untrusted_big_param.lua");
  std::string e = error_of([&] { s.build("train", 1, 4); });
  EXPECT_TRUE(has(e, "parameter 'w'") && has(e, "more than 2^60")) << e;
  EXPECT_TRUE(has(e, "untrusted_big_param.lua:5")) << e;
}

TEST(Untrusted, what_the_exporter_writes_the_decoder_reads_and_scores) {
  RealModel r = real_model();
  EvalResult res = score(write(r.artifact, "roundtrip"), stream(16 * 4 + 1, 64), 1);
  EXPECT_EQ(res.targets, 16 * 4);
  EXPECT_TRUE(std::isfinite(res.bpb()));
}

// ---- the same through `golfrt decode`, on byte-level data ----------------------------------------
// GOLFRT_CLI_UNDER_TEST runs these against another golfrt binary (how they were checked to fail
// on the code before issue 17: there the lying script printed val_bpb 0.000000, --max-tokens 5
// printed 0.000000 with exit 0, and the artifact without a tokenizer fingerprint was scored).

namespace cli {

std::string golfrt() {
  const char* other = std::getenv("GOLFRT_CLI_UNDER_TEST");
  return other ? other : GOLFRT_CLI;
}

// limit_s > 0: killed after that many seconds (exit 124), so a hang fails the test, not the run.
int run(const std::string& args, std::string& out, int limit_s = 0) {
  std::string cmd = (limit_s > 0 ? "timeout " + std::to_string(limit_s) + " " : std::string()) + golfrt() + " " + args + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  out.clear();
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int status = pclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Byte-level data prepared from generated text, once per process.
const DataDir& data(std::string* dir_out = nullptr) {
  static std::string dir;
  static DataDir d = [] {
    dir = ::testing::TempDir() + "untrusted_data_" + std::to_string(::getpid());
    std::string text;
    Rng rng(9);
    static const char* const words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran"};
    for (int i = 0; i < 3000; i++) text += std::string(words[rng.below(9)]) + (i % 9 == 8 ? ".\n" : " ");
    std::ofstream(dir + ".txt") << text;
    std::string out;
    EXPECT_EQ(run("data prepare --text " + dir + ".txt --out " + dir + " --bytes --quiet", out), 0) << out;
    return open_data_dir(dir);
  }();
  if (dir_out) *dir_out = dir;
  return d;
}

RealModel byte_model(bool with_fingerprint = true) {
  const DataDir& d = data();
  Json tok = Json::object();
  tok.set("kind", "bytes");
  if (with_fingerprint) tok.set("fingerprint", d.fingerprint);
  return real_model(260, tok);
}

double printed_bpb(const std::string& out) {
  size_t at = out.find("val_bpb ");
  return at == std::string::npos ? -1 : std::stod(out.substr(at + 8));
}

TEST(UntrustedCli, decode_prints_the_true_score_of_a_lying_script) {
  std::string dir, out;
  data(&dir);
  RealModel r = byte_model();
  ASSERT_EQ(run("decode " + write(r.artifact, "cli_honest") + " --data " + dir + " --max-tokens 400", out), 0) << out;
  const double honest = printed_bpb(out);
  Artifact lying = with_script_edit(r.artifact, kReturnLine, "return 0 * nn.cross_entropy(logits, g.targets, cfg.softcap), nn.softcap(logits, cfg.softcap)");
  ASSERT_EQ(run("decode " + write(lying, "cli_lying") + " --data " + dir + " --max-tokens 400", out), 0) << out;
  EXPECT_GT(honest, 1.0);
  EXPECT_EQ(printed_bpb(out), honest) << out;
}

TEST(UntrustedCli, decode_refuses_to_score_nothing) {
  std::string dir, out;
  data(&dir);
  RealModel r = byte_model();
  const std::string path = write(r.artifact, "cli_short");
  EXPECT_NE(run("decode " + path + " --data " + dir + " --max-tokens 5", out), 0) << out;
  EXPECT_TRUE(has(out, "scores no targets")) << out;
  EXPECT_NE(run("decode " + path + " --data " + dir + " --eval last --chunk 100000", out), 0) << out;
  EXPECT_TRUE(has(out, "scores no targets")) << out;
}

TEST(UntrustedCli, decode_refuses_a_missing_tokenizer_fingerprint_unless_told) {
  std::string dir, out;
  data(&dir);
  RealModel r = byte_model(false);
  const std::string path = write(r.artifact, "cli_nofp");
  EXPECT_NE(run("decode " + path + " --data " + dir + " --max-tokens 100", out), 0) << out;
  EXPECT_TRUE(has(out, "does not say which tokenizer")) << out;
  EXPECT_EQ(run("decode " + path + " --data " + dir + " --max-tokens 100 --any-tokenizer", out), 0) << out;
}

TEST(UntrustedCli, decode_refuses_a_model_that_sees_later_tokens) {
  std::string dir, out;
  data(&dir);
  RealModel r = byte_model();
  Artifact a = with_script_edit(r.artifact, kInputLine,
                                kInputLine + " ; x0 = x0 + x0:mean(2):expand(x0:size(1), x0:size(2), x0:size(3))");
  EXPECT_NE(run("decode " + write(a, "cli_peek") + " --data " + dir + " --max-tokens 400", out), 0) << out;
  EXPECT_TRUE(has(out, "not causal") && has(out, "position 0 ")) << out;
}

TEST(UntrustedCli, decode_refuses_an_overflowing_shape_instead_of_crashing) {
  std::string dir, out;
  data(&dir);
  RealModel r = byte_model();
  Artifact a = with_script_edit(r.artifact, kInputLine,
                                kInputLine + " ; x0 = x0 + nn.full({1,1,1},1):expand({2^62,4,1}):narrow(1, 2^40, 1):sum()");
  EXPECT_EQ(run("decode " + write(a, "cli_expand") + " --data " + dir + " --max-tokens 400", out), 1) << out;  // not 139
  EXPECT_TRUE(has(out, "more than 2^60") && has(out, "baseline.lua:37")) << out;
}

TEST(UntrustedCli, decode_stops_a_hanging_pattern_at_the_deadline) {
  std::string dir, out;
  data(&dir);
  RealModel r = byte_model();
  Artifact a = with_script_edit(r.artifact, kInputLine, kInputLine + " ; local _ = string.rep('a', 100000):find('.-.-.-.-b')");
  EXPECT_EQ(run("decode " + write(a, "cli_pattern") + " --data " + dir + " --script-seconds 2", out, 60), 1) << out;
  EXPECT_TRUE(has(out, "time limit")) << out;
}

TEST(UntrustedCli, decode_refuses_a_fifo_at_once) {
  std::string out;
  std::string fifo = ::testing::TempDir() + "untrusted_cli_fifo_" + std::to_string(::getpid());
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(run("decode " + fifo, out, 20), 1) << out;
  EXPECT_TRUE(has(out, "a FIFO")) << out;
  ::unlink(fifo.c_str());
}

}  // namespace cli
}  // namespace
}  // namespace golf
