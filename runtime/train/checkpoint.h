// Checkpoints: everything a run needs to continue exactly where it stopped (DESIGN.md §11) —
// every weight set, the optimizer state, the data cursor, the replay buffer, the elapsed training
// time, the schedule's recorded multipliers and the phase — in one file written atomically.
// Independent of the rank count: it holds global state only.
//
// Format, little-endian: "GOLFCKPT", u32 version (=1), u64 length of the JSON metadata, the JSON
// text, then a tensor file (runtime/tensor_file.h) to the end.
#pragma once
#include <string>

#include "runtime/json.h"
#include "runtime/tensor_file.h"

namespace golf {

struct Checkpoint {
  Json meta;
  TensorList tensors;  // "w/<set>/<param>", "opt/<state>", "replay/<i>"
};

void write_checkpoint(const std::string& path, const Checkpoint& c);
Checkpoint read_checkpoint(const std::string& path);  // throws naming the file

}  // namespace golf
