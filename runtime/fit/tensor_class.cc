#include "runtime/fit/tensor_class.h"

#include <vector>

namespace golf::fit {

namespace {

std::vector<std::string> components(const std::string& name) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= name.size(); i++) {
    if (i == name.size() || name[i] == '.') {
      out.push_back(name.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

}  // namespace

TensorClass tensor_class(const std::string& name) {
  std::vector<std::string> parts = components(name);
  for (const std::string& c : parts)
    if (contains(c, "emb") || c == "wte" || c == "lm_head" || c == "head" || c == "ve") return TensorClass::embedding;
  for (const std::string& c : parts)
    if (contains(c, "attn") || contains(c, "attention") || c == "q" || c == "k" || c == "v" || c == "qkv" ||
        c == "o" || c == "kv")
      return TensorClass::attention;
  for (const std::string& c : parts)
    if (contains(c, "mlp") || contains(c, "ffn") || c == "fc" || c == "up" || c == "down" || c == "gate_up")
      return TensorClass::mlp;
  return TensorClass::other;
}

const char* tensor_class_name(TensorClass c) {
  switch (c) {
    case TensorClass::embedding: return "embedding";
    case TensorClass::attention: return "attention";
    case TensorClass::mlp: return "mlp";
    case TensorClass::other: return "other";
  }
  return "?";
}

}  // namespace golf::fit
