// Golden tests of the first seed architectures (SEEDS.md §1): examples/frugendorff.lua and
// examples/micro_crawler.lua (preset "tiny"), against the PyTorch references written from SEEDS.md
// (scripts/reference/frugendorff.py, micro_crawler.py). Every parameter randomized; loss, logits
// and every gradient to relative norm error < 1e-5 in fp32 and < 1e-6 in fp64.
#include <gtest/gtest.h>

#include "tests/support/golden_case.h"

namespace golf {
namespace {

GoldenCase frugendorff() {
  GoldenCase c;
  c.reference = "frugendorff.py --seed 3";
  c.script = "examples/frugendorff.lua";
  c.overrides = {"tiny", {}};
  return c;
}

// Training fires the crawler once; every other mode (here "eval") fires it twice.
GoldenCase crawler(bool twice) {
  GoldenCase c;
  c.reference = std::string("micro_crawler.py --seed 3 --firing ") + (twice ? "double" : "single");
  c.script = "examples/micro_crawler.lua";
  c.overrides = {"tiny", {}};
  c.mode = twice ? "eval" : "train";
  return c;
}

TEST(GoldenSeeds, frugendorff_fp32) { run_golden_case(frugendorff(), DType::f32, 1e-5); }
TEST(GoldenSeeds, frugendorff_fp64) { run_golden_case(frugendorff(), DType::f64, 1e-6); }
TEST(GoldenSeeds, micro_crawler_single_firing_fp32) { run_golden_case(crawler(false), DType::f32, 1e-5); }
TEST(GoldenSeeds, micro_crawler_single_firing_fp64) { run_golden_case(crawler(false), DType::f64, 1e-6); }
TEST(GoldenSeeds, micro_crawler_double_firing_fp32) { run_golden_case(crawler(true), DType::f32, 1e-5); }
TEST(GoldenSeeds, micro_crawler_double_firing_fp64) { run_golden_case(crawler(true), DType::f64, 1e-6); }

}  // namespace
}  // namespace golf
