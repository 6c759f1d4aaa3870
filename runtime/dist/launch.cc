#include "runtime/dist/launch.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "runtime/fs.h"
#ifdef GOLFRT_WITH_MPI
#include "runtime/dist/mpi_communicator.h"
#endif
#ifdef GOLFRT_WITH_NCCL
#include "runtime/dist/nccl_communicator.h"
#endif

namespace golf {

namespace {

int env_int(const char* name, int def) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : def;
}

// The launcher's or mpirun's world size (0 when neither started this process).
int mpi_world_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    int n = env_int(v, 0);
    if (n > 0) return n;
  }
  return std::getenv("PMIX_RANK") ? 1 : 0;
}
[[maybe_unused]] int mpi_local_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"}) {
    int n = env_int(v, -1);
    if (n >= 0) return n;
  }
  return 0;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ','))
    if (!x.empty()) out.push_back(x);
  return out;
}

// The GPU of a local rank: the local_rank-th of CUDA_VISIBLE_DEVICES when set, else its index.
[[maybe_unused]] std::string gpu_for(int local_rank) {
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  if (!v || !*v) return std::to_string(local_rank);
  std::vector<std::string> ids = split_commas(v);
  if (local_rank >= int(ids.size()))
    throw std::runtime_error("local rank " + std::to_string(local_rank) + " has no GPU: CUDA_VISIBLE_DEVICES=" + v +
                             " lists " + std::to_string(ids.size()));
  return ids[size_t(local_rank)];
}

[[maybe_unused]] std::string file_id_exchange(const std::string& path, int rank, const std::string& mine) {
  if (rank == 0) {
    write_file_atomic(path, mine);  // the others see the whole id or nothing
    return mine;
  }
  const double limit = env_int("GOLFRT_DIST_TIMEOUT_S", 300);
  auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    std::ifstream f(path, std::ios::binary);
    if (f) {
      std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      if (!s.empty()) return s;
    }
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > limit)
      throw std::runtime_error("rank " + std::to_string(rank) + ": rank 0 wrote no NCCL unique id to " + path + " within " +
                               std::to_string(int(limit)) + " s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

std::string distributed_engines() {
  std::string s;
#ifdef GOLFRT_WITH_MPI
  s += "mpi";
#endif
#ifdef GOLFRT_WITH_NCCL
  s += s.empty() ? "nccl" : ",nccl";
#endif
  return s;
}

std::unique_ptr<Communicator> make_communicator(bool cuda) {
  const int launched = env_int("GOLFRT_WORLD_SIZE", 0);
  if (launched > 0) {
    if (!cuda) throw std::invalid_argument("golfrt train --nproc starts NCCL ranks (--device cuda); for CPU ranks use mpirun -np N golfrt train ...");
#ifdef GOLFRT_WITH_NCCL
    const int rank = env_int("GOLFRT_RANK", -1);
    const char* file = std::getenv("GOLFRT_NCCL_ID_FILE");
    if (rank < 0 || rank >= launched || !file) throw std::runtime_error("GOLFRT_WORLD_SIZE is set without GOLFRT_RANK and GOLFRT_NCCL_ID_FILE (they come from golfrt train --nproc)");
    std::string path = file;
    return nccl_communicator(rank, launched, [&](const std::string& mine) { return file_id_exchange(path, rank, mine); }, nullptr);
#else
    throw std::invalid_argument("golfrt train --nproc: this golfrt was built without NCCL (a CUDA build finds it in the CUDA toolkit; see docs/distributed.md)");
#endif
  }
  const int world = mpi_world_size();
  if (world == 0) return single_process_communicator();
#ifdef GOLFRT_WITH_MPI
  if (!cuda) return mpi_communicator();
#ifdef GOLFRT_WITH_NCCL
  setenv("CUDA_VISIBLE_DEVICES", gpu_for(mpi_local_rank()).c_str(), 1);
  std::shared_ptr<Communicator> boot = mpi_communicator();
  Communicator& b = *boot;
  // The 128-byte id travels as doubles in a sum to which only rank 0 contributes (exact).
  auto share = [&b](const std::string& mine) {
    std::vector<double> v(128 + 1, 0.0);
    if (b.is_root()) {
      v[0] = double(mine.size());
      for (size_t i = 0; i < mine.size() && i < 128; i++) v[i + 1] = double(uint8_t(mine[i]));
    }
    b.allreduce_sum(v.data(), int64_t(v.size()));
    std::string id(size_t(v[0]), '\0');
    for (size_t i = 0; i < id.size(); i++) id[i] = char(uint8_t(v[i + 1]));
    return id;
  };
  int rank = b.rank(), size = b.size();
  // The NCCL communicator owns the MPI one (its barrier and abort end the mpirun job).
  struct Holder final : Communicator {
    std::shared_ptr<Communicator> c;
    int rank() const override { return c->rank(); }
    int size() const override { return c->size(); }
    std::string engine() const override { return c->engine(); }
    void allreduce_sum(float* x, int64_t n) override { c->allreduce_sum(x, n); }
    void allreduce_sum(double* x, int64_t n) override { c->allreduce_sum(x, n); }
    void barrier() override { c->barrier(); }
    [[noreturn]] void abort(const std::string& why) override {
      c->abort(why);
      std::_Exit(1);  // not reached: [[noreturn]] does not carry through the virtual call
    }
  };
  auto holder = std::make_unique<Holder>();
  holder->c = boot;
  return nccl_communicator(rank, size, share, std::move(holder));
#else
  throw std::invalid_argument("mpirun with --device cuda: this golfrt was built without NCCL (GPU ranks all-reduce with NCCL; see docs/distributed.md)");
#endif
#else
  if (world == 1 && !cuda) return single_process_communicator();
  throw std::invalid_argument("started by mpirun (" + std::to_string(world) +
                              " ranks), but this golfrt was built without MPI: install libopenmpi-dev (scripts/setup.sh) "
                              "and configure with -DGOLFRT_MPI=ON");
#endif
}

int run_local_ranks(int nproc, const std::vector<std::string>& args) {
  if (nproc < 1) throw std::invalid_argument("--nproc must be at least 1, got " + std::to_string(nproc));
#ifndef GOLFRT_WITH_NCCL
  (void)args;
  throw std::invalid_argument("golfrt train --nproc: this golfrt was built without NCCL (a CUDA build finds it in the CUDA toolkit; see docs/distributed.md)");
#else
  std::vector<std::string> gpus;
  for (int r = 0; r < nproc; r++) gpus.push_back(gpu_for(r));
  char dir_template[] = "/tmp/golfrt-ranks-XXXXXX";
  if (!mkdtemp(dir_template)) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  const std::string dir = dir_template, id_file = dir + "/nccl_id";
  std::vector<pid_t> pids(size_t(nproc), -1);
  std::fflush(stdout);
  std::fflush(stderr);
  for (int r = 0; r < nproc; r++) {
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      setenv("GOLFRT_RANK", std::to_string(r).c_str(), 1);
      setenv("GOLFRT_LOCAL_RANK", std::to_string(r).c_str(), 1);
      setenv("GOLFRT_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("GOLFRT_NCCL_ID_FILE", id_file.c_str(), 1);
      setenv("CUDA_VISIBLE_DEVICES", gpus[size_t(r)].c_str(), 1);
      std::vector<char*> av;
      std::string self = "/proc/self/exe";
      av.push_back(self.data());
      std::vector<std::string> copy = args;
      for (std::string& s : copy) av.push_back(s.data());
      av.push_back(nullptr);
      execv(self.c_str(), av.data());
      std::fprintf(stderr, "golfrt --nproc: exec of rank %d failed: %s\n", r, std::strerror(errno));
      _exit(127);
    }
    pids[size_t(r)] = pid;
  }
  int left = nproc, status_out = 0;
  bool stopping = false;
  auto t_stop = std::chrono::steady_clock::now();
  while (left > 0) {
    int st = 0;
    pid_t pid = waitpid(-1, &st, stopping ? WNOHANG : 0);
    if (pid < 0) break;
    if (pid == 0) {  // stopping, nobody exited yet: SIGKILL after 10 s
      if (std::chrono::steady_clock::now() - t_stop > std::chrono::seconds(10))
        for (pid_t p : pids)
          if (p > 0) kill(p, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    int r = 0;
    while (r < nproc && pids[size_t(r)] != pid) r++;
    if (r == nproc) continue;
    pids[size_t(r)] = -1;
    left--;
    const bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (ok || stopping) continue;
    std::fprintf(stderr, "golfrt --nproc: rank %d %s; stopping the other ranks\n", r,
                 WIFSIGNALED(st) ? ("died of signal " + std::to_string(WTERMSIG(st))).c_str()
                                 : ("exited with status " + std::to_string(WEXITSTATUS(st))).c_str());
    status_out = 1;
    stopping = true;
    t_stop = std::chrono::steady_clock::now();
    for (pid_t p : pids)
      if (p > 0) kill(p, SIGTERM);
  }
  std::remove(id_file.c_str());
  rmdir(dir.c_str());
  return status_out;
#endif
}

}  // namespace golf
