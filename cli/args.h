// Command-line arguments shared by the subcommands: positionals, --set key=value (repeatable),
// --preset NAME and --flag / --key value options.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "dsl/script.h"
#include "runtime/device_memory.h"
#include "runtime/tensor.h"
#ifdef GOLFRT_WITH_CUDA
#include "kernels/cuda/device.h"
#endif

namespace golf::cli {

struct Args {
  std::vector<std::string> positional;
  Overrides overrides;
  std::map<std::string, std::string> options;  // --key value (flags map to "true")

  std::string get(const std::string& key, const std::string& def) const {
    auto it = options.find(key);
    return it == options.end() ? def : it->second;
  }
};

// --device cpu|cuda|standin (default cpu). cuda is refused here, before any work, plainly: by a
// build without CUDA, or when no device is usable. standin is the stand-in device
// (runtime/device_memory.h, docs/cuda.md): the CUDA path on host memory and the CPU kernels, in any
// build; GOLFRT_STANDIN_DEVICE=1 in the environment makes --device cuda mean it too.
inline Device parse_device(const Args& a) {
  const std::string d = a.get("device", "cpu");
  if (d == "cpu") return Device::cpu;
  if (d == "standin") {
    set_standin_device(true);
    return Device::cuda;
  }
  if (d == "cuda" && standin_device()) return Device::cuda;
  if (d == "cuda") {
#ifdef GOLFRT_WITH_CUDA
    std::string why;
    if (cuda::device_count(&why) == 0)
      throw std::runtime_error("--device cuda: no usable CUDA device (" + (why.empty() ? std::string("none found") : why) + ")");
    return Device::cuda;
#else
    throw std::invalid_argument("--device cuda: this golfrt was built without CUDA (configure with -DGOLFRT_CUDA=ON "
                                "on a machine with nvcc)");
#endif
  }
  throw std::invalid_argument("--device must be cpu, cuda or standin, not '" + d + "'");
}

// How golfrt was started (argv[0]), for commands printed back to the user (main.cc sets it).
void set_program_name(const std::string& name);
const std::string& program_name();
// `args` as one shell command line: each argument single-quoted where the shell would split or
// expand it.
std::string shell_command(const std::vector<std::string>& args);

// Numbers on the command line, parsed strictly: the whole text must be the number (no trailing
// characters, no fraction for an integer, no NaN or infinity), and it must lie in [min, max]. The
// errors name the flag and the text as given, since "stoll" or a silently truncated value tells a
// user nothing (a fraction cut to 0 made `--batch 0.5` spin forever).
int64_t parse_int_flag(const std::string& flag, const std::string& text, int64_t min, int64_t max);
double parse_real_flag(const std::string& flag, const std::string& text, double min, double max);

// The option `key` as a number (`def` when it is absent; the default is not range-checked).
int64_t int_option(const Args& a, const std::string& key, int64_t def, int64_t min, int64_t max = INT64_MAX);
double real_option(const Args& a, const std::string& key, double def, double min, double max);

// `valued` lists the options that take a value; any other --option is a flag. Unknown options
// are errors naming them.
inline Args parse_args(const std::vector<std::string>& argv, const std::vector<std::string>& valued,
                       const std::vector<std::string>& flags = {}) {
  Args a;
  for (size_t i = 0; i < argv.size(); i++) {
    const std::string& s = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argv.size()) throw std::invalid_argument(s + " needs a value");
      return argv[++i];
    };
    if (s == "--set") {
      a.overrides.sets.push_back(parse_set(next()));
    } else if (s.rfind("--set=", 0) == 0) {
      a.overrides.sets.push_back(parse_set(s.substr(6)));
    } else if (s == "--preset") {
      a.overrides.preset = next();
    } else if (s.rfind("--", 0) == 0) {
      std::string key = s.substr(2);
      bool takes = false, flag = false;
      for (const auto& v : valued) takes = takes || v == key;
      for (const auto& f : flags) flag = flag || f == key;
      if (takes) a.options[key] = next();
      else if (flag) a.options[key] = "true";
      else throw std::invalid_argument("unknown option " + s);
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

int cmd_summary(const std::vector<std::string>& args);
int cmd_data(const std::vector<std::string>& args);  // cli/data.cc
extern const char* const kDataUsage;
int cmd_train(const std::vector<std::string>& args);
int cmd_decode(const std::vector<std::string>& args);
int cmd_fit(const std::vector<std::string>& args);
int cmd_inspect(const std::vector<std::string>& args);  // cli/inspect.cc
extern const char* const kInspectUsage;
int cmd_import(const std::vector<std::string>& args);  // cli/import.cc
extern const char* const kImportUsage;

}  // namespace golf::cli
