// Checkpoints: everything a run needs to continue exactly where it stopped (DESIGN.md §11) —
// every weight set, the optimizer state, the data cursor, the replay buffer, the elapsed training
// time, the schedule's recorded multipliers and the phase — in one file written atomically.
// Independent of the rank count: it holds global state only.
//
// Format, little-endian: "GOLFCKPT", u32 version (=1), u64 length of the JSON metadata, the JSON
// text, then a tensor file (runtime/tensor_file.h) to the end.
//
// The trainer's layout (save_train_state): metadata keys format ("golfrt-checkpoint"), step,
// tokens, elapsed_s, seed, swa_count, qat_on, replay_pos, cursor { shard, position },
// lr_multipliers (one per step taken), micro_batch (the sequences per micro-batch the run used:
// a derived one is reused on resume, runtime/train/device_plan.h; written since issue 16, after
// the other keys, so version 1 holds both: a file without it is read as "not recorded"); tensors "w/<set>/<param>" for every weight set and stored
// parameter (unstored buffers keep their declared values on resume), "opt/<state>" (the names of
// OptimizerSet::state), "replay/<i>" (u16 token batches, oldest first).
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "runtime/data/dataset.h"
#include "runtime/json.h"
#include "runtime/optim/optimizer_set.h"
#include "runtime/params.h"
#include "runtime/tensor_file.h"
#include "runtime/train/schedule.h"

namespace golf {

struct Checkpoint {
  Json meta;
  TensorList tensors;  // "w/<set>/<param>", "opt/<state>", "replay/<i>"
};

void write_checkpoint(const std::string& path, const Checkpoint& c);
Checkpoint read_checkpoint(const std::string& path);  // throws naming the file
// The metadata alone (the header and the JSON; no tensor is read): what a run must know before
// it builds its graphs.
Json read_checkpoint_meta(const std::string& path);

// What the training loop carries from step to step besides the weights, the optimizer, the data
// stream's cursor and the schedule's record.
struct TrainState {
  int64_t step = 0;
  int64_t tokens = 0;
  double elapsed = 0;  // training seconds so far (the challenge's clock)
  int64_t swa_count = 0;
  bool qat_on = false;
  bool switched = false;  // train.graph_switch: the "train" graph is on
  int64_t replay_pos = 0;                     // the next recorded batch a replay phase takes
  int64_t micro_batch = 0;                    // sequences per micro-batch (0: not recorded)
  std::deque<std::vector<uint16_t>> replay;  // the last batches, oldest first
};

void save_train_state(const std::string& path, const TrainState& state, uint64_t seed, const TokenStream& stream,
                      const Schedule& schedule, const ParamStore& store, const OptimizerSet& optim);
// Restores the stream's cursor, the schedule's record, every weight set (creating the sets the
// store lacks) and the optimizer state; throws naming the file or the tensor that does not fit.
TrainState restore_train_state(const std::string& path, TokenStream& stream, Schedule& schedule, ParamStore& store,
                               OptimizerSet& optim);

}  // namespace golf
