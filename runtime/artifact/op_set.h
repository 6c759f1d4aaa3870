// The running golfrt's op set, as an artifact records it (OpSet in artifact.h). Kept apart from
// the codec so that the artifact reader (and its fuzzer) need not link the op table.
#pragma once
#include "runtime/artifact/artifact.h"

namespace golf {

// ops = the number of ops in runtime/ops.def; fingerprint = xxh64 over their names, each followed
// by '\n', in table order. Adding, removing, renaming or reordering an op changes it.
OpSet current_op_set();

}  // namespace golf
