#include "runtime/json.h"

#include <cmath>
#include <cstdio>

namespace golf {

namespace {
const char* type_name(Json::Type t) {
  switch (t) {
    case Json::Type::null: return "null";
    case Json::Type::boolean: return "a boolean";
    case Json::Type::number: return "a number";
    case Json::Type::string: return "a string";
    case Json::Type::array: return "an array";
    case Json::Type::object: return "an object";
  }
  return "?";
}
const Json& null_json() {
  static const Json n;
  return n;
}
}  // namespace

double Json::number(const std::string& what) const {
  if (type_ != Type::number) throw std::invalid_argument(what + " must be a number, not " + type_name(type_));
  return n_;
}
int64_t Json::integer(const std::string& what) const {
  double n = number(what);
  if (n != std::floor(n)) throw std::invalid_argument(what + " must be an integer, got " + dump());
  return int64_t(n);
}
const std::string& Json::str(const std::string& what) const {
  if (type_ != Type::string) throw std::invalid_argument(what + " must be a string, not " + type_name(type_));
  return s_;
}
bool Json::boolean(const std::string& what) const {
  if (type_ != Type::boolean) throw std::invalid_argument(what + " must be true or false, not " + type_name(type_));
  return b_;
}
void Json::push(Json v) {
  if (type_ == Type::null) type_ = Type::array;
  if (type_ != Type::array) throw std::logic_error("Json::push on a non-array");
  a_.push_back(std::move(v));
}
const Json& Json::operator[](const std::string& key) const {
  if (type_ != Type::object) return null_json();
  auto it = o_.find(key);
  return it == o_.end() ? null_json() : it->second;
}
Json& Json::set(const std::string& key, Json v) {
  if (type_ == Type::null) type_ = Type::object;
  if (type_ != Type::object) throw std::logic_error("Json::set on a non-object");
  return o_[key] = std::move(v);
}
double Json::get(const std::string& key, double def) const {
  const Json& v = (*this)[key];
  return v.is_null() ? def : v.number(key);
}
int64_t Json::get(const std::string& key, int64_t def) const {
  const Json& v = (*this)[key];
  return v.is_null() ? def : v.integer(key);
}
bool Json::get(const std::string& key, bool def) const {
  const Json& v = (*this)[key];
  return v.is_null() ? def : v.boolean(key);
}
std::string Json::get(const std::string& key, const char* def) const {
  const Json& v = (*this)[key];
  return v.is_null() ? std::string(def) : v.str(key);
}

namespace {
void dump_string(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  out += '"';
}
void dump_to(const Json& j, std::string& out) {
  switch (j.type()) {
    case Json::Type::null: out += "null"; break;
    case Json::Type::boolean: out += j.boolean() ? "true" : "false"; break;
    case Json::Type::number: {
      double n = j.number();
      char buf[32];
      if (!std::isfinite(n)) out += "null";  // JSON has no NaN/inf
      else if (n == std::floor(n) && std::fabs(n) < 9e15) std::snprintf(buf, sizeof buf, "%lld", (long long)n), out += buf;
      else std::snprintf(buf, sizeof buf, "%.17g", n), out += buf;
      break;
    }
    case Json::Type::string: dump_string(j.str(), out); break;
    case Json::Type::array: {
      out += '[';
      for (size_t i = 0; i < j.size(); i++) {
        if (i) out += ',';
        dump_to(j[i], out);
      }
      out += ']';
      break;
    }
    case Json::Type::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : j.fields()) {
        if (!first) out += ',';
        first = false;
        dump_string(k, out);
        out += ':';
        dump_to(v, out);
      }
      out += '}';
      break;
    }
  }
}

struct Parser {
  const std::string& t;
  const std::string& source;
  size_t i = 0;
  [[noreturn]] void fail(const std::string& why) {
    size_t line = 1;
    for (size_t k = 0; k < i && k < t.size(); k++) line += t[k] == '\n';
    throw std::invalid_argument(source + ":" + std::to_string(line) + ": invalid JSON: " + why);
  }
  void ws() {
    while (i < t.size() && (t[i] == ' ' || t[i] == '\n' || t[i] == '\r' || t[i] == '\t')) i++;
  }
  bool eat(const char* lit) {
    size_t n = std::char_traits<char>::length(lit);
    if (t.compare(i, n, lit) == 0) return i += n, true;
    return false;
  }
  std::string string() {
    if (t[i] != '"') fail("expected a string");
    i++;
    std::string s;
    while (i < t.size() && t[i] != '"') {
      char c = t[i++];
      if (c != '\\') {
        s += c;
        continue;
      }
      if (i >= t.size()) fail("unterminated escape");
      char e = t[i++];
      switch (e) {
        case '"': s += '"'; break;
        case '\\': s += '\\'; break;
        case '/': s += '/'; break;
        case 'b': s += '\b'; break;
        case 'f': s += '\f'; break;
        case 'n': s += '\n'; break;
        case 'r': s += '\r'; break;
        case 't': s += '\t'; break;
        case 'u': {
          if (i + 4 > t.size()) fail("short \\u escape");
          unsigned cp = unsigned(std::stoul(t.substr(i, 4), nullptr, 16));
          i += 4;
          if (cp >= 0xd800 && cp < 0xdc00 && t.compare(i, 2, "\\u") == 0) {  // surrogate pair
            unsigned lo = unsigned(std::stoul(t.substr(i + 2, 4), nullptr, 16));
            i += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          if (cp < 0x80) s += char(cp);
          else if (cp < 0x800) s += char(0xc0 | (cp >> 6)), s += char(0x80 | (cp & 0x3f));
          else if (cp < 0x10000) s += char(0xe0 | (cp >> 12)), s += char(0x80 | ((cp >> 6) & 0x3f)), s += char(0x80 | (cp & 0x3f));
          else s += char(0xf0 | (cp >> 18)), s += char(0x80 | ((cp >> 12) & 0x3f)), s += char(0x80 | ((cp >> 6) & 0x3f)), s += char(0x80 | (cp & 0x3f));
          break;
        }
        default: fail(std::string("bad escape \\") + e);
      }
    }
    if (i >= t.size()) fail("unterminated string");
    i++;
    return s;
  }
  Json value(int depth) {
    if (depth > 200) fail("nested too deeply");
    ws();
    if (i >= t.size()) fail("unexpected end");
    char c = t[i];
    if (c == '{') {
      i++;
      Json o = Json::object();
      ws();
      if (i < t.size() && t[i] == '}') return i++, o;
      for (;;) {
        ws();
        std::string k = string();
        ws();
        if (i >= t.size() || t[i] != ':') fail("expected ':'");
        i++;
        o.set(k, value(depth + 1));
        ws();
        if (i < t.size() && t[i] == ',') { i++; continue; }
        if (i < t.size() && t[i] == '}') return i++, o;
        fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      i++;
      Json a = Json::array();
      ws();
      if (i < t.size() && t[i] == ']') return i++, a;
      for (;;) {
        a.push(value(depth + 1));
        ws();
        if (i < t.size() && t[i] == ',') { i++; continue; }
        if (i < t.size() && t[i] == ']') return i++, a;
        fail("expected ',' or ']'");
      }
    }
    if (c == '"') return Json(string());
    if (eat("true")) return Json(true);
    if (eat("false")) return Json(false);
    if (eat("null")) return Json();
    size_t end = i;
    while (end < t.size() && (std::isdigit(static_cast<unsigned char>(t[end])) || t[end] == '-' || t[end] == '+' || t[end] == '.' || t[end] == 'e' || t[end] == 'E')) end++;
    if (end == i) fail(std::string("unexpected '") + c + "'");
    try {
      size_t used = 0;
      double n = std::stod(t.substr(i, end - i), &used);
      if (used != end - i) fail("bad number");
      i = end;
      return Json(n);
    } catch (const std::logic_error&) {
      fail("bad number");
    }
  }
};
}  // namespace

std::string Json::dump() const {
  std::string out;
  dump_to(*this, out);
  return out;
}

Json Json::parse(const std::string& text, const std::string& source) {
  Parser p{text, source};
  Json v = p.value(0);
  p.ws();
  if (p.i != text.size()) p.fail("trailing characters");
  return v;
}

}  // namespace golf
