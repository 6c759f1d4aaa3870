// Text for the tests that prepare data through the CLI: lines of words drawn by xorshift64 from a
// fixed seed, so every machine makes the same text (and the same data, models and scores).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace golf::test {

// Twenty lowercase English words: what the byte-level CLI tests train on.
inline const std::vector<std::string>& plain_words() {
  static const std::vector<std::string> words = {"the",  "cat",   "sees", "a",    "small", "dog",   "near",
                                                 "river", "runs", "to",   "old",  "house", "with",  "care",
                                                 "every", "day",  "bird", "sings", "at",   "night"};
  return words;
}

// `lines` lines, line i of 6 + i % spread words from `words` separated by spaces, each ending ".\n".
inline std::string word_lines(const std::vector<std::string>& words, int lines, int spread) {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  std::string text;
  for (int line = 0; line < lines; line++) {
    for (int w = 0; w < 6 + line % spread; w++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      text += (w ? " " : "") + words[x % words.size()];
    }
    text += ".\n";
  }
  return text;
}

}  // namespace golf::test
