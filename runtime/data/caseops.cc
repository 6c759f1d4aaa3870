#include "runtime/data/caseops.h"

#include <cstring>
#include <stdexcept>

#include "runtime/fs.h"

namespace golf {

namespace {

bool upper(char c) { return c >= 'A' && c <= 'Z'; }
bool lower(char c) { return c >= 'a' && c <= 'z'; }
bool alpha(char c) { return upper(c) || lower(c); }
char to_lower(char c) { return upper(c) ? char(c - 'A' + 'a') : c; }
char to_upper(char c) { return lower(c) ? char(c - 'a' + 'A') : c; }

// 1..4 for the control at s[i] (TITLE, ALLCAPS, CAPNEXT, ESC), else 0.
int control_at(std::string_view s, size_t i) {
  if (i + 3 > s.size() || uint8_t(s[i]) != 0xEE || uint8_t(s[i + 1]) != 0x80) return 0;
  uint8_t c = uint8_t(s[i + 2]);
  return c >= 0x81 && c <= 0x84 ? c - 0x80 : 0;
}

size_t utf8_length(uint8_t lead) { return lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1; }

constexpr char kMagic[8] = {'G', 'O', 'L', 'F', 'T', 'O', 'K', 'B'};

}  // namespace

std::string caseops_encode(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  size_t i = 0;
  while (i < s.size()) {
    if (control_at(s, i)) {
      out += kCaseOpsEsc;
      out.append(s.substr(i, 3));
      i += 3;
      continue;
    }
    if (!alpha(s[i])) {
      out += s[i++];
      continue;
    }
    size_t j = i;
    bool any_upper = false, all_upper = true, rest_lower = true;
    while (j < s.size() && alpha(s[j])) {
      any_upper |= upper(s[j]);
      all_upper &= upper(s[j]);
      if (j > i) rest_lower &= lower(s[j]);
      j++;
    }
    std::string_view word = s.substr(i, j - i);
    if (!any_upper) {
      out.append(word);
    } else if (word.size() >= 2 && all_upper) {
      out += kCaseOpsAllCaps;
      for (char c : word) out += to_lower(c);
    } else if (upper(word[0]) && word.size() >= 2 && rest_lower) {
      out += kCaseOpsTitle;
      for (char c : word) out += to_lower(c);
    } else {
      if (upper(word[0])) out += kCaseOpsTitle;
      out += to_lower(word[0]);
      for (size_t k = 1; k < word.size(); k++) {
        if (upper(word[k])) out += kCaseOpsCapNext;
        out += to_lower(word[k]);
      }
    }
    i = j;
  }
  return out;
}

namespace {

// The inverse, strict (repaired null: throws at the first place no encoding makes) or lenient
// (counts each such place in *repaired and carries on: a marker with nothing to apply to is
// dropped, a capital letter kept). Both read the text alike wherever it is CaseOps text.
std::string decode_text(std::string_view s, const std::string& source, int64_t* repaired) {
  // Returns when the place may be repaired (lenient), having counted it.
  auto fail = [&](size_t at, const std::string& what) {
    if (!repaired) throw std::runtime_error(source + ": not CaseOps text at byte " + std::to_string(at) + ": " + what);
    ++*repaired;
  };
  std::string out;
  out.reserve(s.size());
  enum class Mode { none, title, allcaps } pending = Mode::none;
  bool escape = false, in_word = false, allcaps = false, capnext = false;
  size_t i = 0;
  while (i < s.size()) {
    const int ctl = control_at(s, i);
    if (escape) {
      escape = false;
      if (!ctl) {
        fail(i, "an escape marker not followed by a control character");
        continue;  // the escape is dropped; s[i] is read as it stands
      }
      out.append(s.substr(i, 3));
      i += 3;
      in_word = allcaps = false;
      continue;
    }
    // A marker where a letter should follow one: the one waiting applies to nothing.
    const bool waiting = pending != Mode::none || capnext;
    if (ctl == 4) {
      if (waiting) fail(i, "an escape where a letter should follow a case marker");
      pending = Mode::none;
      capnext = false;
      escape = true;
      i += 3;
      continue;
    }
    if (ctl == 1 || ctl == 2) {
      if (waiting || in_word) fail(i, "a word case marker inside a word or after another marker");
      capnext = false;
      pending = in_word ? Mode::none : ctl == 1 ? Mode::title : Mode::allcaps;
      i += 3;
      continue;
    }
    if (ctl == 3) {
      if (waiting) fail(i, "a next-letter capital marker after another marker");
      pending = Mode::none;
      capnext = true;
      i += 3;
      continue;
    }
    const char c = s[i];
    if (alpha(c)) {
      if (upper(c)) fail(i, "a capital letter (the transform leaves none)");
      if (!in_word) {
        out += pending != Mode::none || capnext ? to_upper(c) : c;
        allcaps = pending == Mode::allcaps;
        in_word = true;
      } else {
        if (pending != Mode::none) fail(i, "a word case marker inside a word");
        out += allcaps || capnext ? to_upper(c) : c;
      }
      pending = Mode::none;
      capnext = false;
      i++;
      continue;
    }
    if (waiting) fail(i, "a case marker not followed by an ASCII letter");
    pending = Mode::none;
    capnext = false;
    out += c;
    in_word = allcaps = false;
    i++;
  }
  if (escape) fail(s.size(), "a dangling escape marker at the end");
  if (pending != Mode::none || capnext) fail(s.size(), "a dangling case marker at the end");
  return out;
}

}  // namespace

std::string caseops_decode(std::string_view s, const std::string& source) { return decode_text(s, source, nullptr); }

std::string caseops_decode_lenient(std::string_view s, int64_t& repaired) {
  repaired = 0;
  return decode_text(s, "", &repaired);
}

std::vector<uint16_t> caseops_token_bytes(std::string_view t, const std::vector<size_t>& begins) {
  std::vector<uint16_t> out(begins.size());
  bool escape = false;
  size_t i = 0;
  for (size_t k = 0; k < begins.size(); k++) {
    const size_t end = k + 1 < begins.size() ? std::min(begins[k + 1], t.size()) : t.size();
    uint64_t n = 0;
    while (i < end) {
      const int ctl = control_at(t, i);
      if (ctl) {
        if (escape) n += 3, escape = false;  // an escaped control is original text
        else if (ctl == 4) escape = true;
        i += 3;
        continue;
      }
      const size_t len = utf8_length(uint8_t(t[i]));
      n += len;
      i += len;
    }
    if (n > UINT16_MAX)
      throw std::runtime_error("CaseOps: token " + std::to_string(k) + " stands for " + std::to_string(n) +
                               " bytes, more than the sidecar's 16 bits hold");
    out[k] = uint16_t(n);
  }
  return out;
}

uint64_t caseops_original_bytes(std::string_view t) {
  uint64_t n = 0;
  bool escape = false;
  for (size_t i = 0; i < t.size();) {
    const int ctl = control_at(t, i);
    if (ctl) {
      if (escape) n += 3, escape = false;
      else if (ctl == 4) escape = true;
      i += 3;
      continue;
    }
    n++;
    i++;
  }
  return n;
}

void write_token_bytes(const std::string& path, const std::vector<uint16_t>& bytes) {
  std::string out(kMagic, 8);
  const uint32_t version = 1, zero = 0;
  const uint64_t count = bytes.size();
  out.append(reinterpret_cast<const char*>(&version), 4);
  out.append(reinterpret_cast<const char*>(&zero), 4);
  out.append(reinterpret_cast<const char*>(&count), 8);
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size() * 2);
  write_file_atomic(path, out);
}

std::vector<uint16_t> read_token_bytes(const std::string& path) {
  const std::string s = read_file(path);
  if (s.size() < 24 || std::memcmp(s.data(), kMagic, 8) != 0)
    throw std::runtime_error(path + ": not a golfrt token byte sidecar (no GOLFTOKB header)");
  uint32_t version = 0, zero = 0;
  uint64_t count = 0;
  std::memcpy(&version, s.data() + 8, 4);
  std::memcpy(&zero, s.data() + 12, 4);
  std::memcpy(&count, s.data() + 16, 8);
  if (version != 1) throw std::runtime_error(path + ": token byte sidecar version " + std::to_string(version) + " (this golfrt reads 1)");
  if (zero != 0) throw std::runtime_error(path + ": corrupt token byte sidecar (reserved field not zero)");
  if (count > (s.size() - 24) / 2 || s.size() != 24 + count * 2)
    throw std::runtime_error(path + ": the token byte sidecar declares " + std::to_string(count) + " entries in " +
                             std::to_string(s.size() - 24) + " bytes");
  std::vector<uint16_t> out(count);
  if (count) std::memcpy(out.data(), s.data() + 24, count * 2);
  return out;
}

}  // namespace golf
