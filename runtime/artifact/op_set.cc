#include "runtime/artifact/op_set.h"

#include "hashing/checksum.h"
#include "runtime/graph.h"

namespace golf {

OpSet current_op_set() {
  std::string names;
  for (int i = 0; i < op_count(); i++) names += std::string(op_info(Op(i)).name) + "\n";
  return {uint32_t(op_count()), hashing::checksum(names)};
}

}  // namespace golf
