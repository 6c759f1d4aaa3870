#include "runtime/train/stop_signal.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "runtime/dist/communicator.h"

namespace golf {

namespace {

std::atomic<int> g_stop{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free flag");

void on_stop(int sig) {
  int none = 0;
  if (!g_stop.compare_exchange_strong(none, sig)) {
    // The second signal: the default action, now (it ends the process).
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  // write(2) is async-signal-safe; stdio is not.
  static const char msg[] =
      "\ngolfrt train: stopping after this step and saving the checkpoint (signal again to stop at once)\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
}

void set_handler(void (*handler)(int)) {
  struct sigaction sa = {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace

void install_stop_handlers() { set_handler(on_stop); }

void remove_stop_handlers() { set_handler(SIG_DFL); }

int stop_signal() { return g_stop.load(); }

int agreed_stop_signal(Communicator& comm) { return int(broadcast_from_root(comm, double(stop_signal()))); }

const char* stop_signal_name(int sig) {
  if (sig == SIGINT) return "SIGINT";
  if (sig == SIGTERM) return "SIGTERM";
  return "a signal";
}

}  // namespace golf
