// Scratch space for a test program that runs golfrt: one folder per process, made on first use,
// removed at the end when every test passed and kept (its path printed) when one failed, so that a
// failure leaves its runs to look at.
//
//   ScratchDir* const kScratch = add_scratch_dir("train_test");   // at namespace scope
//   const std::string dir = kScratch->path() + "/run1";   // or kScratch->test_dir(): one per test
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace golf {

class ScratchDir : public ::testing::Environment {
 public:
  explicit ScratchDir(std::string program) : program_(std::move(program)) {}
  const std::string& path() {
    if (path_.empty()) {
      path_ = ::testing::TempDir() + "golfrt_" + program_ + "." + std::to_string(::getpid());
      std::filesystem::remove_all(path_);
      std::filesystem::create_directories(path_);
    }
    return path_;
  }
  // The running test's folder, path()/<Suite>.<Test>; test_dir() empties it first (for
  // --gtest_repeat) and makes it.
  std::string test_dir_path() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return path() + "/" + info->test_suite_name() + "." + info->name();
  }
  std::string test_dir() {
    const std::string d = test_dir_path();
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
  }
  void TearDown() override {
    if (path_.empty() || !std::filesystem::exists(path_)) return;
    if (::testing::UnitTest::GetInstance()->Passed()) std::filesystem::remove_all(path_);
    else std::fprintf(stderr, "%s: files kept in %s\n", program_.c_str(), path_.c_str());
  }

 private:
  std::string program_, path_;
};

// Registers the folder's cleanup with GoogleTest (call at namespace scope, before main runs).
inline ScratchDir* add_scratch_dir(const std::string& program) {
  return static_cast<ScratchDir*>(::testing::AddGlobalTestEnvironment(new ScratchDir(program)));
}

}  // namespace golf
