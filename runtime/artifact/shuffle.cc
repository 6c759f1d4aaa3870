#include "runtime/artifact/shuffle.h"

#include <stdexcept>

namespace golf {
namespace {

void check(std::string_view data, size_t width) {
  if (width == 0 || data.size() % width != 0)
    throw std::invalid_argument("byte shuffle: " + std::to_string(data.size()) + " bytes are not a whole number of " +
                                std::to_string(width) + "-byte elements");
}

}  // namespace

std::string shuffle_bytes(std::string_view data, size_t width) {
  check(data, width);
  size_t n = data.size() / width;
  std::string out(data.size(), '\0');
  for (size_t i = 0; i < n; i++)
    for (size_t b = 0; b < width; b++) out[b * n + i] = data[i * width + b];
  return out;
}

std::string unshuffle_bytes(std::string_view data, size_t width) {
  check(data, width);
  size_t n = data.size() / width;
  std::string out(data.size(), '\0');
  for (size_t i = 0; i < n; i++)
    for (size_t b = 0; b < width; b++) out[i * width + b] = data[b * n + i];
  return out;
}

}  // namespace golf
