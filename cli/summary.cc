// golfrt summary SCRIPT: the module tree with each parameter's shape, the parameter count by
// optimizer group (the script's train.optim rules) and in total; buffers (non-trainable tensors
// such as permutation tables) are listed apart and not counted as parameters.
#include <algorithm>
#include <cstdio>
#include <map>

#include "cli/args.h"

namespace golf::cli {

namespace {

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); i++) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

bool under(const std::string& name, const std::string& path) {
  return path.empty() || (name.size() > path.size() && name.compare(0, path.size(), path) == 0 && name[path.size()] == '.');
}

}  // namespace

int cmd_summary(const std::vector<std::string>& argv) {
  Args a = parse_args(argv, {"seq"});
  if (a.positional.size() != 1) throw std::invalid_argument("usage: golfrt summary SCRIPT [--set k=v] [--preset P]");
  ModelScript script(a.positional[0], a.overrides);
  const int64_t seq = a.options.count("seq")            ? int_option(a, "seq", 0, 1)
                      : script.has_config("seq_len") ? script.config_count("seq_len")
                                                     : 16;
  auto m = script.build("train", 1, seq);

  std::printf("%s", script.path().c_str());
  if (!a.overrides.preset.empty()) std::printf(" --preset %s", a.overrides.preset.c_str());
  for (auto& [k, v] : a.overrides.sets) std::printf(" --set %s=%s", k.c_str(), v.c_str());
  std::printf("\nconfig:");
  for (auto& [k, v] : script.config_items()) std::printf(" %s=%s", k.c_str(), v.c_str());
  std::printf("\n\n%-40s %-10s %12s  %s\n", "module / parameter", "type", "parameters", "shape");

  std::map<std::string, int64_t> count_under;
  for (const ModuleRecord& r : m->modules)
    for (const ParamSpec& p : m->store.specs())
      if (!p.is_buffer() && under(p.name, r.path)) count_under[r.path] += shape_numel(p.shape);

  // Modules in attach order, each followed by its own parameters (those directly under it).
  auto depth = [](const std::string& s) { return int(std::count(s.begin(), s.end(), '.')); };
  auto owner = [&](const std::string& pname) {
    std::string best;
    for (const ModuleRecord& r : m->modules)
      if (under(pname, r.path) && r.path.size() > best.size()) best = r.path;
    return best;
  };
  auto print_params = [&](const std::string& path) {
    for (const ParamSpec& p : m->store.specs()) {
      if (p.is_buffer() || owner(p.name) != path) continue;
      std::string leaf = path.empty() ? p.name : p.name.substr(path.size() + 1);
      int d = path.empty() ? 0 : depth(path) + 1;
      std::printf("%*s%-*s %-10s %12s  %s\n", 2 * d, "", 40 - 2 * d, leaf.c_str(), "", with_commas(shape_numel(p.shape)).c_str(),
                  shape_str(p.shape).c_str());
    }
  };
  print_params("");
  for (const ModuleRecord& r : m->modules) {
    int d = depth(r.path);
    std::string leaf = r.path.substr(r.path.find_last_of('.') == std::string::npos ? 0 : r.path.find_last_of('.') + 1);
    std::printf("%*s%-*s %-10s %12s\n", 2 * d, "", 40 - 2 * d, leaf.c_str(), r.type.c_str(), with_commas(count_under[r.path]).c_str());
    print_params(r.path);
  }

  std::printf("\nby optimizer group (train.optim):\n");
  auto rules = script.optim_rules();
  std::vector<int64_t> per_rule(rules.size() + 1, 0);
  std::vector<int> tensors(rules.size() + 1, 0);
  for (const ParamSpec& p : m->store.specs()) {
    if (p.is_buffer()) continue;
    size_t r = 0;
    while (r < rules.size() && !script.name_matches(p.name, rules[r].first)) r++;
    per_rule[r] += shape_numel(p.shape);
    tensors[r]++;
  }
  for (size_t r = 0; r <= rules.size(); r++) {
    if (r == rules.size() && !tensors[r]) break;
    std::string label = r < rules.size() ? rules[r].second + "  " + rules[r].first : "(no rule)";
    std::printf("  %-40s %12s  %d tensors\n", label.c_str(), with_commas(per_rule[r]).c_str(), tensors[r]);
  }
  int buffers = 0;
  for (const ParamSpec& p : m->store.specs()) {
    if (!p.is_buffer()) continue;
    if (!buffers++) std::printf("\nbuffers (not trained, not counted as parameters):\n");
    std::printf("  %-40s %12s  %s %s%s\n", p.name.c_str(), with_commas(shape_numel(p.shape)).c_str(),
                shape_str(p.shape).c_str(), p.integer ? "i32" : "real", p.stored ? "" : " (not stored: rebuilt by the script)");
  }
  std::printf("\nparameters: %lld (%s)\n", (long long)m->store.count(), with_commas(m->store.count()).c_str());
  if (buffers)
    std::printf("buffers: %d tensors, %lld values (%s)\n", buffers, (long long)m->store.buffer_count(),
                with_commas(m->store.buffer_count()).c_str());
  return 0;
}

}  // namespace golf::cli
