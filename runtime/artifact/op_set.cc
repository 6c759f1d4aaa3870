#include "runtime/artifact/op_set.h"

#include "hashing/checksum.h"
#include "runtime/graph.h"

namespace golf {

std::vector<std::string> current_op_names() {
  std::vector<std::string> names;
  for (int i = 0; i < op_count(); i++) names.push_back(op_info(Op(i)).name);
  return names;
}

OpSet op_set_of(const std::vector<std::string>& names) {
  std::string joined;
  for (const std::string& n : names) joined += n + "\n";
  return {uint32_t(names.size()), hashing::checksum(joined)};
}

OpSet current_op_set() { return op_set_of(current_op_names()); }

std::string op_set_error(const OpSet& theirs, const std::vector<std::string>& ours) {
  if (theirs.ops > ours.size())
    return "it was built against " + std::to_string(theirs.ops) + " ops and this golfrt has " +
           std::to_string(ours.size()) + ": decode it with the newer golfrt that wrote it";
  const std::vector<std::string> prefix(ours.begin(), ours.begin() + theirs.ops);
  if (op_set_of(prefix).fingerprint != theirs.fingerprint)
    return "its op table (" + std::to_string(theirs.ops) + " ops) is not the start of this golfrt's: ops were renamed, "
           "reordered or removed since (runtime/ops.def may only grow at its end), so its script's ops would not mean "
           "what they meant when it was trained";
  return "";
}

}  // namespace golf
