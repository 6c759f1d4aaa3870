// Running a program (golfrt, or a command line through /bin/sh) from a test as a user would: its
// stdout and stderr captured to files, its exit status kept whole (an exit code and a death by
// signal are different outcomes), and a deadline after which it is killed, so that a command that
// hangs fails its test instead of stalling the suite.
//
// One BLAS and one OpenMP thread unless the caller says otherwise: the tests that use this compare
// losses bit for bit, and OpenBLAS's threaded sgemm gives different bits for different thread counts.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace golf::test {

struct Child {
  pid_t pid = -1;
  std::string out_path, err_path;  // the child's stdout and stderr
};

struct Result {
  int status = 0;  // as waitpid reports it
  bool timed_out = false;
  std::string out, err;
  bool ok() const { return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0; }
  // The exit code, or -1 when the process did not exit by itself (a signal, the deadline).
  int exit_code() const { return !timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
  std::string describe() const {
    std::string how = timed_out             ? std::string("killed at the test's deadline")
                      : WIFEXITED(status)   ? "exit code " + std::to_string(WEXITSTATUS(status))
                      : WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                            : "status " + std::to_string(status);
    return how + "\n--- stdout:\n" + out + "--- stderr:\n" + err;
  }
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Starts `program` with `args`; its output goes to log_prefix.out / .err.
inline Child spawn_program(const std::string& program, const std::vector<std::string>& args, const std::string& log_prefix,
                           const std::map<std::string, std::string>& env_overrides = {}) {
  Child c;
  c.out_path = log_prefix + ".out";
  c.err_path = log_prefix + ".err";
  std::map<std::string, std::string> env_map = {{"OMP_NUM_THREADS", "1"}, {"OPENBLAS_NUM_THREADS", "1"}};
  for (const auto& [k, v] : env_overrides) env_map[k] = v;
  std::vector<std::string> env;
  for (char** e = environ; *e; e++) {
    std::string kv = *e;
    if (!env_map.count(kv.substr(0, kv.find('=')))) env.push_back(kv);
  }
  for (const auto& [k, v] : env_map) env.push_back(k + "=" + v);

  std::vector<std::string> argv_s = {program};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, c.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, c.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int rc = posix_spawn(&c.pid, program.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + program + ": " + std::strerror(rc));
  return c;
}

// Waits for the child; past `deadline_s` it is killed (SIGKILL) and the result says so.
inline Result wait_for(const Child& c, double deadline_s = 120) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration<double>(deadline_s);
  Result r;
  for (;;) {
    pid_t done = ::waitpid(c.pid, &r.status, WNOHANG);
    if (done == c.pid) break;
    if (done < 0 && errno != EINTR) throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
    if (clock::now() > deadline && !r.timed_out) {
      ::kill(c.pid, SIGKILL);
      r.timed_out = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  r.out = slurp(c.out_path);
  r.err = slurp(c.err_path);
  return r;
}

}  // namespace golf::test
