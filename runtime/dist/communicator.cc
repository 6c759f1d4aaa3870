#include "runtime/dist/communicator.h"

#include "runtime/device_memory.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace golf {

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string engine() const override { return "single"; }
  void allreduce_sum(float*, int64_t) override {}
  void allreduce_sum(double*, int64_t) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& why) override {
    std::fprintf(stderr, "golfrt: %s\n", why.c_str());
    std::exit(1);
  }
};

template <class T>
void reduce_flat(Communicator& comm, std::map<std::string, Tensor>& ts) {
  int64_t n = 0;
  for (auto& [name, t] : ts) n += t.numel();
  std::vector<T> flat(static_cast<size_t>(n));
  int64_t off = 0;
  for (auto& [name, t] : ts) {
    std::memcpy(flat.data() + off, t.raw(), size_t(t.numel()) * sizeof(T));
    off += t.numel();
  }
  comm.allreduce_sum(flat.data(), n);
  off = 0;
  for (auto& [name, t] : ts) {
    std::memcpy(t.raw(), flat.data() + off, size_t(t.numel()) * sizeof(T));
    off += t.numel();
  }
}

}  // namespace

std::unique_ptr<Communicator> single_process_communicator() { return std::make_unique<SingleProcess>(); }

void allreduce_sum(Communicator& comm, std::map<std::string, Tensor>& ts) {
  if (!distributed(&comm) || ts.empty()) return;
  const DType dt = ts.begin()->second.dtype();
  bool on_device = false;
  for (auto& [name, t] : ts) {
    on_device = on_device || t.device() != Device::cpu;
    if (t.dtype() != dt)
      throw std::invalid_argument("allreduce: '" + name + "' is " + dtype_name(t.dtype()) + ", the others " + dtype_name(dt));
  }
  if (on_device && !standin_device()) {
    // Device-resident gradients on a GPU: in place where the engine reduces device memory (NCCL),
    // else staged through host copies (counted, runtime/device_memory.h).
    std::vector<std::pair<void*, int64_t>> buffers;
    bool all_device = true;
    for (auto& [name, t] : ts) {
      all_device = all_device && t.device() != Device::cpu;
      buffers.emplace_back(t.raw(), t.numel());
    }
    if (all_device && comm.allreduce_sum_device(buffers, dt)) return;
    std::map<std::string, Tensor> host;
    for (auto& [name, t] : ts) host[name] = t.to_device(Device::cpu);
    allreduce_sum(comm, host);
    for (auto& [name, t] : ts) t.copy_from(host.at(name));
    return;
  }
  // Host tensors, or the stand-in device's (host memory): reduced where they lie.
  if (dt == DType::f32) reduce_flat<float>(comm, ts);
  else if (dt == DType::f64) reduce_flat<double>(comm, ts);
  else throw std::invalid_argument(std::string("allreduce: tensors of type ") + dtype_name(dt) + " (f32 or f64 only)");
}

double broadcast_from_root(Communicator& comm, double x) {
  if (!distributed(&comm)) return x;
  double v = comm.is_root() ? x : 0.0;
  comm.allreduce_sum(&v, 1);
  return v;
}

}  // namespace golf
