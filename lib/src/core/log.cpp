// Logging to stderr as "tool: message".
#include "paramkit/core/log.h"

#include <cstdio>
#include <mutex>

namespace paramkit::log {
namespace {
std::string g_tool = "paramkit";
Level g_level = Level::info;
std::mutex g_mutex;
}  // namespace

void set_tool(std::string name) { g_tool = std::move(name); }
const std::string& tool() { return g_tool; }
void set_level(Level level) { g_level = level; }
Level level() { return g_level; }

namespace {
bool g_progress_line = false;  // guarded by g_mutex
}

void set_progress_line(bool drawn) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_progress_line = drawn;
}

void write(Level level, const std::string& message) {
  if (static_cast<int>(level) > static_cast<int>(g_level)) return;
  const char* tag = level == Level::error ? "error: " : level == Level::warn ? "warning: " : "";
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_progress_line) {
    std::fputs("\r\033[K", stderr);
    g_progress_line = false;
  }
  std::fprintf(stderr, "%s: %s%s\n", g_tool.c_str(), tag, message.c_str());
  std::fflush(stderr);
}

}  // namespace paramkit::log
