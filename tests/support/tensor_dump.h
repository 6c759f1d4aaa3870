// Tests read reference dumps through the runtime's tensor file format.
#pragma once
#include "runtime/tensor_file.h"
