// Strict parsing of command-line numbers (cli/args.h).
#include "cli/args.h"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace golf::cli {

namespace {

std::string range_text(int64_t min, int64_t max) {
  if (max == INT64_MAX) return "at least " + std::to_string(min);
  return "from " + std::to_string(min) + " to " + std::to_string(max);
}

std::string range_text(double min, double max) {
  auto num = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return std::string(b);
  };
  if (std::isinf(max)) return "at least " + num(min);
  return "from " + num(min) + " to " + num(max);
}

}  // namespace

namespace {
std::string& program_name_storage() {
  static std::string name = "golfrt";
  return name;
}
}  // namespace

void set_program_name(const std::string& name) {
  if (!name.empty()) program_name_storage() = name;
}

const std::string& program_name() { return program_name_storage(); }

std::string shell_command(const std::vector<std::string>& args) {
  std::string out;
  for (const std::string& a : args) {
    bool plain = !a.empty();
    for (char c : a)
      plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || std::string("-_./=:,+@%").find(c) != std::string::npos);
    if (!out.empty()) out += ' ';
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

int64_t parse_int_flag(const std::string& flag, const std::string& text, int64_t min, int64_t max) {
  const std::string name = "--" + flag;
  int64_t v = 0;
  const char* first = text.data();
  const char* last = first + text.size();
  if (first != last && *first == '+') first++;  // from_chars takes no sign but '-'
  auto [end, ec] = std::from_chars(first, last, v);
  if (ec == std::errc::result_out_of_range)
    throw std::invalid_argument(name + " " + text + " is out of range (" + range_text(min, max) + ")");
  if (ec != std::errc() || end != last || first == last)
    throw std::invalid_argument(name + " needs a whole number (" + range_text(min, max) + "), got '" + text + "'");
  if (v < min || v > max)
    throw std::invalid_argument(name + " must be " + range_text(min, max) + ", got " + text);
  return v;
}

double parse_real_flag(const std::string& flag, const std::string& text, double min, double max) {
  const std::string name = "--" + flag;
  // strtod rather than from_chars: it reads hex floats and is what users know; its "nan" and "inf"
  // are refused below.
  char* end = nullptr;
  errno = 0;
  const double v = text.empty() || std::isspace(static_cast<unsigned char>(text[0])) ? 0.0 : std::strtod(text.c_str(), &end);
  if (end == nullptr || end == text.c_str() || *end != '\0')
    throw std::invalid_argument(name + " needs a number (" + range_text(min, max) + "), got '" + text + "'");
  if (!std::isfinite(v))
    throw std::invalid_argument(name + " needs a finite number (" + range_text(min, max) + "), got '" + text + "'");
  if (errno == ERANGE) throw std::invalid_argument(name + " " + text + " is out of range (" + range_text(min, max) + ")");
  if (!(v >= min && v <= max)) throw std::invalid_argument(name + " must be " + range_text(min, max) + ", got " + text);
  return v;
}

int64_t int_option(const Args& a, const std::string& key, int64_t def, int64_t min, int64_t max) {
  auto it = a.options.find(key);
  return it == a.options.end() ? def : parse_int_flag(key, it->second, min, max);
}

double real_option(const Args& a, const std::string& key, double def, double min, double max) {
  auto it = a.options.find(key);
  return it == a.options.end() ? def : parse_real_flag(key, it->second, min, max);
}

}  // namespace golf::cli
