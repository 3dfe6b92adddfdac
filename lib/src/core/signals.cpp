// SIGINT/SIGTERM: first signal sets a flag checked at safe points; a second one unlinks registered
// temp files (async-signal-safe) and exits.
#include "paramkit/core/signals.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "paramkit/core/error.h"

namespace paramkit {
namespace {
std::atomic<int> g_signals{0};
constexpr int kMaxTemps = 64;
constexpr int kPathMax = 4096;
char g_temps[kMaxTemps][kPathMax];
std::atomic<bool> g_used[kMaxTemps];
std::mutex g_temp_mutex;

extern "C" void on_signal(int sig) {
  if (g_signals.fetch_add(1) >= 1) {
    for (int i = 0; i < kMaxTemps; ++i)
      if (g_used[i].load()) unlink(g_temps[i]);
    _exit(128 + sig);
  }
}
}  // namespace

void install_signal_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() { return g_signals.load() > 0; }

void check_stop() {
  if (stop_requested()) throw Interrupted();
}

void register_temp_file(const std::string& path) {
  if (path.size() >= kPathMax) return;
  std::lock_guard<std::mutex> lock(g_temp_mutex);
  for (int i = 0; i < kMaxTemps; ++i) {
    if (!g_used[i].load()) {
      std::memcpy(g_temps[i], path.c_str(), path.size() + 1);
      g_used[i].store(true);
      return;
    }
  }
}

void unregister_temp_file(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_temp_mutex);
  for (int i = 0; i < kMaxTemps; ++i)
    if (g_used[i].load() && path == g_temps[i]) {
      g_used[i].store(false);
      return;
    }
}

void test_kill_point(const char* name, long value) {
  const char* v = std::getenv(name);
  if (v && std::strtol(v, nullptr, 10) == value) raise(SIGKILL);
}

}  // namespace paramkit
