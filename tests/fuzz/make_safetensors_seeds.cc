// Writes the safetensors fuzzer's seed corpus: small files as PyTorch's writer lays them out, with
// every dtype the reader converts, metadata, an empty tensor, and a file of no tensors.
//   safetensors_fuzz_seeds DIR
#include <cstdio>
#include <map>
#include <string>

#include "runtime/fs.h"
#include "runtime/safetensors.h"

using namespace golf;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: safetensors_fuzz_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  make_dirs(dir);
  auto filled = [](Shape shape, DType dt) {
    Tensor t(shape, dt);
    for (int64_t i = 0; i < t.numel(); i++) t.set(i, dt == DType::i32 ? double(i * 7 - 20) : 0.37 * double(i) - 1.5);
    return t;
  };
  const std::map<std::string, std::map<std::string, Tensor>> seeds = {
      {"f32", {{"tok_emb.weight", filled({4, 3}, DType::f32)}, {"skip_weights", filled({2, 3}, DType::f32)}}},
      {"mixed", {{"a.bf16", filled({3, 2}, DType::bf16)}, {"b.f16", filled({5}, DType::f16)}, {"c.f64", filled({2, 2}, DType::f64)},
                 {"d.i32", filled({3}, DType::i32)}, {"e.empty", Tensor({0, 3}, DType::f32)}}},
      {"scalar", {{"s", filled({}, DType::f32)}}},
      {"none", {}},
  };
  int n = 0;
  for (const auto& [name, tensors] : seeds) {
    write_file_atomic(path_join(dir, name + ".safetensors"), encode_safetensors(tensors, {{"format", "pt"}}));
    n++;
  }
  std::printf("%d seeds in %s\n", n, dir.c_str());
  return 0;
}
