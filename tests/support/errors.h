// The message an action throws, or "(no error)": tests assert on what errors say.
#pragma once
#include <exception>
#include <functional>
#include <string>

namespace golf {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace golf
