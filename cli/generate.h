// golfrt decode ARTIFACT --generate TEXT: sampling, with a KV cache where the model allows it.
#pragma once
#include "cli/args.h"
#include "dsl/artifact_model.h"

namespace golf::cli {

int generate(LoadedModel& m, const Args& a);

}  // namespace golf::cli
