// A small JSON value: manifests, metrics lines, checkpoint metadata, and the script's train/quant
// tables as the runtime sees them (dsl/ converts Lua tables into this, so runtime/ never sees Lua).
// Objects keep their keys sorted (std::map), so the text a value writes is deterministic.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace golf {

class Json {
 public:
  enum class Type { null, boolean, number, string, array, object };

  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool b) : type_(Type::boolean), b_(b) {}
  Json(double n) : type_(Type::number), n_(n) {}
  Json(int n) : type_(Type::number), n_(n) {}
  Json(int64_t n) : type_(Type::number), n_(double(n)) {}
  Json(uint64_t n) : type_(Type::number), n_(double(n)) {}
  Json(const char* s) : type_(Type::string), s_(s) {}
  Json(std::string s) : type_(Type::string), s_(std::move(s)) {}
  static Json array() { Json j; j.type_ = Type::array; return j; }
  static Json object() { Json j; j.type_ = Type::object; return j; }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::null; }
  bool is_number() const { return type_ == Type::number; }
  bool is_string() const { return type_ == Type::string; }
  bool is_bool() const { return type_ == Type::boolean; }
  bool is_array() const { return type_ == Type::array; }
  bool is_object() const { return type_ == Type::object; }

  // Typed reads; `what` names the value in the error ("train.optim[2].lr").
  double number(const std::string& what = "value") const;
  int64_t integer(const std::string& what = "value") const;
  const std::string& str(const std::string& what = "value") const;
  bool boolean(const std::string& what = "value") const;

  // Arrays
  size_t size() const { return type_ == Type::array ? a_.size() : type_ == Type::object ? o_.size() : 0; }
  const Json& operator[](size_t i) const { return a_.at(i); }
  void push(Json v);
  const std::vector<Json>& items() const { return a_; }

  // Objects: a missing key reads as null.
  bool has(const std::string& key) const { return type_ == Type::object && o_.count(key) != 0; }
  const Json& operator[](const std::string& key) const;
  Json& set(const std::string& key, Json v);
  const std::map<std::string, Json>& fields() const { return o_; }

  double get(const std::string& key, double def) const;
  int64_t get(const std::string& key, int64_t def) const;
  int get(const std::string& key, int def) const { return int(get(key, int64_t(def))); }
  bool get(const std::string& key, bool def) const;
  std::string get(const std::string& key, const char* def) const;

  std::string dump() const;  // compact, one line; numbers as %.17g (integers without a point)
  static Json parse(const std::string& text, const std::string& source = "json");  // throws naming source

 private:
  Type type_ = Type::null;
  bool b_ = false;
  double n_ = 0;
  std::string s_;
  std::vector<Json> a_;
  std::map<std::string, Json> o_;
};

}  // namespace golf
