// golfrt decode ARTIFACT --ttt sgd|lora (docs/decoding.md, "Test-time training"): the settings from
// the script's ttt table and the command line, progress on the terminal, per-chunk bpb as JSONL.
#pragma once
#include <string>
#include <vector>

#include "cli/args.h"
#include "dsl/artifact_model.h"
#include "runtime/data/byte_table.h"
#include "runtime/train/evaluate.h"

namespace golf::cli {

// The options decode takes for test-time training (all valued).
extern const std::vector<std::string> kTttOptions;

// Refuses, before any work, what test-time training cannot do with the command line: a --ttt-*
// setting without --ttt, --ttt with --generate or --eval last, or on a device other than the CPU.
void check_ttt_flags(const Args& a);

// Scores `val` in `mode` (blocks or sliding) with test-time training; returns the result.
EvalResult decode_with_ttt(LoadedModel& m, const Args& a, Evaluator& ev, const std::vector<uint16_t>& val,
                           const ByteTable& table, const std::string& mode);

}  // namespace golf::cli
