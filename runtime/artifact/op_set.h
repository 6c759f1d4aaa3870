// The running golfrt's op set, as an artifact records it (OpSet in artifact.h). Kept apart from
// the codec so that the artifact reader (and its fuzzer) need not link the op table.
#pragma once
#include <string>
#include <vector>

#include "runtime/artifact/artifact.h"

namespace golf {

// ops = the number of ops in runtime/ops.def; fingerprint = xxh64 over their names, each followed
// by '\n', in table order. Adding, removing, renaming or reordering an op changes it.
OpSet current_op_set();
std::vector<std::string> current_op_names();
OpSet op_set_of(const std::vector<std::string>& names);

// "" when an artifact built against `theirs` can run on a golfrt whose op table is `ours`: its ops
// must be the first theirs.ops of ours, in order. runtime/ops.def only ever grows at its end, so
// every earlier artifact keeps decoding as ops are added; else the reason it cannot.
std::string op_set_error(const OpSet& theirs, const std::vector<std::string>& ours);

}  // namespace golf
