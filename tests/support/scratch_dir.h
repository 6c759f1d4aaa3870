// Scratch space for a test program that runs golfrt: one folder per process, made on first use,
// removed at the end when every test passed and kept (its path printed) when one failed, so that a
// failure leaves its runs to look at.
//
//   ScratchDir* const kScratch = add_scratch_dir("train_test");   // at namespace scope
//   const std::string dir = kScratch->path() + "/run1";
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
