#include "runtime/device_memory.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>

namespace golf {

namespace {

std::mutex g_mu;
DeviceTraffic g_traffic;
int64_t g_standin_live = 0;  // stand-in storages alive now (the switch may not flip under them)

int& switch_state() {  // -1: not read yet
  static int s = -1;
  return s;
}

}  // namespace

bool standin_device() {
  std::lock_guard<std::mutex> lock(g_mu);
  int& s = switch_state();
  if (s < 0) {
    const char* e = std::getenv("GOLFRT_STANDIN_DEVICE");
    s = e && std::string(e) == "1" ? 1 : 0;
  }
  return s == 1;
}

void set_standin_device(bool on) {
  std::lock_guard<std::mutex> lock(g_mu);
  int& s = switch_state();
  const bool was = s == 1;
  if (was == on && s >= 0) return;
  const int64_t other = was ? g_standin_live : g_traffic.live_tensors - g_standin_live;
  if (other > 0)
    throw std::logic_error("set_standin_device: " + std::to_string(other) + " device tensors of the " +
                           (was ? "stand-in" : "real") + " device are alive; switch before any exists");
  s = on ? 1 : 0;
}

void* standin_alloc(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded ? rounded : 64);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, rounded ? rounded : 64);
  std::lock_guard<std::mutex> lock(g_mu);
  g_standin_live++;
  return p;
}

void standin_free(void* p, size_t) noexcept {
  std::free(p);
  std::lock_guard<std::mutex> lock(g_mu);
  g_standin_live--;
}

DeviceTraffic device_traffic() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_traffic;
}

void count_upload(size_t bytes) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_traffic.uploads++, g_traffic.upload_bytes += int64_t(bytes);
}

void count_download(size_t bytes) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_traffic.downloads++, g_traffic.download_bytes += int64_t(bytes);
}

void count_device_copy(size_t bytes) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_traffic.device_copies++, g_traffic.device_copy_bytes += int64_t(bytes);
}

void count_device_storage(size_t bytes, bool alive) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (alive) g_traffic.allocations++, g_traffic.allocation_bytes += int64_t(bytes), g_traffic.live_tensors++;
  else g_traffic.live_tensors--;
}

}  // namespace golf
