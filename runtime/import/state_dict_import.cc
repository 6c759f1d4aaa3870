#include "runtime/import/state_dict_import.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "runtime/fs.h"
#include "runtime/json.h"

namespace golf {

namespace {

// A list for an error message: every name, up to a bound that keeps a wrong 100-layer model's
// message readable.
std::string name_list(const std::vector<std::string>& names) {
  constexpr size_t kShown = 40;
  std::string s;
  for (size_t i = 0; i < names.size() && i < kShown; i++) s += "\n    " + names[i];
  if (names.size() > kShown) s += "\n    ... and " + std::to_string(names.size() - kShown) + " more";
  return s;
}

}  // namespace

StateDictNames read_state_dict_names(const std::string& path) {
  Json j;
  try {
    j = Json::parse(read_file(path), path);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  if (!j.is_object() || j.get("format", "") != std::string("golfrt-state-dict-names"))
    throw std::runtime_error(path + ": not a name table (its \"format\" must be \"golfrt-state-dict-names\")");
  if (!j["version"].is_number() || j["version"].number() != 1)
    throw std::runtime_error(path + ": name table version " + j["version"].dump() + "; this golfrt reads version 1");
  for (const auto& [k, _] : j.fields())
    if (k != "format" && k != "version" && k != "rename" && k != "ignore" && k != "comment")
      throw std::runtime_error(path + ": unknown key '" + k + "' (a name table has format, version, rename, ignore, comment)");
  StateDictNames n;
  if (j.has("rename")) {
    if (!j["rename"].is_object()) throw std::runtime_error(path + ": \"rename\" must be an object of state_dict name -> golfrt name");
    for (const auto& [from, to] : j["rename"].fields()) {
      if (!to.is_string() || to.str().empty()) throw std::runtime_error(path + ": rename." + from + " must be a golfrt parameter name");
      n.rename[from] = to.str();
    }
  }
  if (j.has("ignore")) {
    if (!j["ignore"].is_array()) throw std::runtime_error(path + ": \"ignore\" must be an array of state_dict names");
    for (const Json& v : j["ignore"].items()) {
      if (!v.is_string()) throw std::runtime_error(path + ": \"ignore\" holds " + v.dump() + ", not a name");
      if (n.rename.count(v.str())) throw std::runtime_error(path + ": '" + v.str() + "' is both renamed and ignored");
      n.ignore.insert(v.str());
    }
  }
  return n;
}

std::map<std::string, std::string> map_state_dict_names(const StateDictNames& names, const std::vector<std::string>& state_dict,
                                                        const std::vector<std::string>& targets, const std::string& source) {
  const std::set<std::string> wanted(targets.begin(), targets.end());
  std::map<std::string, std::string> feeds;  // target -> state_dict name
  std::vector<std::string> left_over, doubled;
  for (const std::string& s : state_dict) {
    if (names.ignore.count(s)) continue;
    auto r = names.rename.find(s);
    const std::string target = r == names.rename.end() ? s : r->second;
    if (!wanted.count(target)) {
      left_over.push_back(r == names.rename.end() ? s : s + " (renamed to " + target + ")");
      continue;
    }
    auto [it, fresh] = feeds.emplace(target, s);
    if (!fresh) doubled.push_back(target + " (from " + it->second + " and " + s + ")");
  }
  std::vector<std::string> missing;
  for (const std::string& t : targets)
    if (!feeds.count(t)) missing.push_back(t);
  if (missing.empty() && left_over.empty() && doubled.empty()) return feeds;
  std::string msg = source + " does not match the script's parameters:";
  if (!missing.empty()) msg += "\n  " + std::to_string(missing.size()) + " parameters no state_dict name reaches:" + name_list(missing);
  if (!left_over.empty())
    msg += "\n  " + std::to_string(left_over.size()) + " state_dict names that reach no parameter:" + name_list(left_over);
  if (!doubled.empty()) msg += "\n  " + std::to_string(doubled.size()) + " parameters reached twice:" + name_list(doubled);
  msg += "\n  (the script's name table, SCRIPT.state_dict.json or --names, renames or ignores state_dict names)";
  throw std::runtime_error(msg);
}

ImportReport import_state_dict(ParamStore& store, const SafetensorsFile& file, const StateDictNames& names,
                               const std::string& source) {
  std::vector<std::string> targets, sd;
  for (const ParamSpec& p : store.specs())
    if (!p.is_buffer() || p.stored) targets.push_back(p.name);
  for (const auto& [name, _] : file.tensors) sd.push_back(name);
  const std::map<std::string, std::string> feeds = map_state_dict_names(names, sd, targets, source);

  std::vector<std::string> wrong;
  for (const auto& [target, from] : feeds) {
    const Shape& want = store.spec(target).shape;
    const Shape& have = file.tensors.at(from).shape;
    if (have != want) wrong.push_back(from + " is " + shape_str(have) + ", " + target + " is " + shape_str(want));
  }
  if (!wrong.empty()) throw std::runtime_error(source + ": " + std::to_string(wrong.size()) + " shapes differ from the script's:" + name_list(wrong));

  ImportReport rep;
  for (const auto& [target, from] : feeds) {
    const SafeTensor& t = file.tensors.at(from);
    const ParamSpec& spec = store.spec(target);
    const std::string what = source + ": tensor '" + from + "'";
    Tensor v = spec.integer ? safetensor_to_i32(t, what) : safetensor_to_f32(t, what);
    if (!spec.integer) {  // a NaN or infinity would pass into the quantizer's scales unnoticed
      const float* p = v.data<float>();
      for (int64_t i = 0; i < v.numel(); i++)
        if (!std::isfinite(p[i])) throw std::runtime_error(what + " holds " + std::to_string(p[i]) + " at element " + std::to_string(i));
    }
    Tensor& dst = store.get(target);
    if (dst.dtype() != v.dtype() || dst.nbytes() != v.nbytes())
      throw std::logic_error("import_state_dict: the store's " + target + " is not " + dtype_name(v.dtype()) + " of its declared shape");
    std::memcpy(dst.raw(), v.raw(), v.nbytes());
    rep.tensors++;
    rep.values += v.numel();
    rep.dtypes[t.dtype]++;
  }
  for (const auto& [name, _] : file.tensors) rep.ignored += names.ignore.count(name) ? 1 : 0;
  return rep;
}

}  // namespace golf
