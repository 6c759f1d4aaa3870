// A PyTorch state_dict (as safetensors, scripts/import_state_dict.py) into a script's parameters:
// the name table that says which state_dict name feeds which parameter, and the checked copy.
//
// The name table is a JSON file beside the script (SCRIPT.state_dict.json; examples/baseline.lua's
// maps the names of the challenge's train_gpt.py, which scripts/reference/baseline.py keeps):
//
//   { "format": "golfrt-state-dict-names", "version": 1,
//     "rename": { "skip_weights": "blocks.skip_weights" },   -- state_dict name -> golfrt name
//     "ignore": [ ] }                                         -- state_dict names with no parameter
//
// A name neither renamed nor ignored maps to itself. Nothing is matched loosely: a parameter no
// state_dict name reaches, a state_dict name that reaches no parameter, two names reaching one
// parameter, and a shape that differs are each refused with the full list of them.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/params.h"
#include "runtime/safetensors.h"

namespace golf {

struct StateDictNames {
  std::map<std::string, std::string> rename;
  std::set<std::string> ignore;
};

// Reads and checks a name table (format above); the errors name the file and the entry.
StateDictNames read_state_dict_names(const std::string& path);

// For every target (a golfrt parameter or stored buffer), the state_dict name that feeds it.
// Throws, naming `source`, with every missing, left-over and doubly-fed name at once.
std::map<std::string, std::string> map_state_dict_names(const StateDictNames& names,
                                                        const std::vector<std::string>& state_dict,
                                                        const std::vector<std::string>& targets, const std::string& source);

struct ImportReport {
  int64_t tensors = 0, values = 0;
  std::map<std::string, int64_t> dtypes;  // safetensors dtype -> how many tensors had it
  int64_t ignored = 0;
};

// Fills `store`'s "live" set (already initialized in f32) from the file: every parameter and stored
// buffer, shapes checked (all mismatches listed), reals converted to f32 (F32, BF16, F16 exactly;
// F64 rounded), integer buffers to i32. `source` names the file in messages.
ImportReport import_state_dict(ParamStore& store, const SafetensorsFile& file, const StateDictNames& names,
                               const std::string& source);

}  // namespace golf
