// Golden test of BioDNA (SEEDS.md §5): examples/biodna.lua (preset "tiny") against the PyTorch
// reference scripts/reference/biodna.py. Every parameter randomized (genes, both morphogenesis
// MLPs with their biases, the embedding and every scalar); loss, logits and every gradient, which
// reach the genotype only through the generated factors, to relative norm error < 1e-5 in fp32
// and < 1e-6 in fp64 (tests/golden_seeds_test.cc's tolerances).
#include <gtest/gtest.h>

#include <cstring>

#include "tests/support/errors.h"
#include "tests/support/golden_case.h"

namespace golf {
namespace {

GoldenCase biodna() {
  GoldenCase c;
  c.reference = "biodna.py --seed 3";
  c.script = "examples/biodna.lua";
  c.overrides = {"tiny", {}};
  return c;
}

TEST(GoldenBioDNA, fp32) { run_golden_case(biodna(), DType::f32, 1e-5); }
TEST(GoldenBioDNA, fp64) { run_golden_case(biodna(), DType::f64, 1e-6); }

// The script's parameters are exactly the genotype, the two MLPs, the embedding and the scalars:
// no stored linear weight; f_row is D_out·R wide and f_col D_in·R.
TEST(GoldenBioDNA, stores_only_the_genotype) {
  ModelScript script(std::string(GOLFRT_SOURCE_DIR) + "/examples/biodna.lua", Overrides{"tiny", {}});
  auto m = script.build("train", 1, 8);
  int64_t genome = 0;
  for (const ParamSpec& p : m->store.specs()) {
    int64_t n = 1;
    for (int64_t d : p.shape) n *= d;
    if (p.name.rfind("genome.", 0) == 0) {
      genome += n;
      continue;
    }
    bool known = p.name == "tok_emb.weight" || p.name == "blocks.skip_weights" || p.name == "head_scale";
    for (const char* s : {".attn.q_gain", ".attn_scale", ".mlp_scale", ".resid_mix"})
      known = known || (p.name.rfind("blocks.", 0) == 0 && p.name.size() > std::strlen(s) &&
                        p.name.compare(p.name.size() - std::strlen(s), std::string::npos, s) == 0);
    EXPECT_TRUE(known) << p.name << " is neither the genotype, the embedding nor a scalar";
  }
  // tiny: L 5, genes 8, hidden 16, R 4; f_row as wide as the largest out (the head: vocab 96),
  // f_col as the largest in (mlp_proj: the MLP hidden 64)
  auto morph = [](int64_t width) { return 16 * 8 + 16 + width * 4 * 16 + width * 4; };
  EXPECT_EQ(genome, 5 * 8 + 7 * 8 + morph(96) + morph(64));
  EXPECT_EQ(m->store.spec("genome.f_row.w2").shape, (Shape{96 * 4, 16}));
  EXPECT_EQ(m->store.spec("genome.f_col.w2").shape, (Shape{64 * 4, 16}));
}


// nn.Genome's misuse is an error naming the script line and what is wrong.
std::string genome_error(const std::string& body) {
  std::string src =
      "local nn = require 'golf.nn'\nlocal M = { config = {} }\nfunction M.build(g, cfg, mode)\n"
      "  local m = nn.Model()\n"
      "  m.genome = nn.Genome{ layers = 2, genes = 4, hidden = 4, rank = 2,\n"
      "                        types = { { 'q', 8, 8 }, { 'head', 8, 16, layerless = true } } }\n" +
      body + "\nend\nreturn M\n";
  return error_of([&] { ModelScript("genome_err.lua", src, {}, Overrides{"", {}}).build("train", 1, 4); });
}

TEST(GoldenBioDNA, genome_misuse_is_an_error) {
  std::string e = genome_error("  m.lin = m.genome:linear(0, 'q')\n  m.x = nn.Parameter({ 3, 6 })\n  local y = m.lin(m.x)\n  return y");
  EXPECT_NE(e.find("genome_err.lua:9"), std::string::npos) << e;
  EXPECT_NE(e.find("lin (q@0) takes 8 features, got a tensor of shape [3, 6]"), std::string::npos) << e;
  e = genome_error("  m.genome:linear(0, 'z')");
  EXPECT_NE(e.find("genome_err.lua:7"), std::string::npos) << e;
  EXPECT_NE(e.find("nn.Genome has no type 'z'"), std::string::npos) << e;
  EXPECT_NE(genome_error("  m.genome:linear(2, 'q')").find("layer 2 of type 'q' is outside 0 .. 1"), std::string::npos);
  EXPECT_NE(genome_error("  m.genome:linear(0, 'head')").find("type 'head' is layerless"), std::string::npos);
}

}  // namespace
}  // namespace golf
