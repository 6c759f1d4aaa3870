// What `golfrt train` checks before it spends a step: the run folder it would write into, the
// train table's numbers, and the quant table the artifact will be made with. Each refusal names
// the folder or the setting, and says what to do instead.
#pragma once
#include <string>

#include "dsl/script.h"
#include "runtime/json.h"

namespace golf::cli {

// A run folder that already holds files is refused unless the user said what to do with it:
// --resume (continue its checkpoint) or --overwrite (replace its run).
void check_run_folder(const std::string& dir, bool resume, bool overwrite);
// --overwrite, once every other check has passed: removes the files a run writes (checkpoint,
// metrics, schedule, artifact), so that nothing of the old run mixes with the new one (the metrics
// log appends). Other files in the folder are left alone.
void clear_run_folder(const std::string& dir);

// The train table's counts, intervals and budgets: whole numbers where they count, finite and in
// range (a negative step count or checkpoint interval was taken as "none", an infinite budget ran
// forever).
void check_train_numbers(const Json& train);

// The quant table as export will read it (encodings, clip rules, per-name rules and their
// patterns, codec, shuffle/packed, the weight set and calibration), before the first step: a bad
// codec used to be refused only after the whole training.
// `seq` is the training length the script's graph is built with (to list its tensors).
void check_quant_settings(ModelScript& script, const Json& train, int64_t seq);

}  // namespace golf::cli
