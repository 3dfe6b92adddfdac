// Progress bar on a terminal's stderr; silent in pipelines and logs.
#include "paramkit/core/progress.h"

#include <unistd.h>

#include <cstdio>

#include "paramkit/core/log.h"

namespace paramkit {

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)),
      total_(total),
      active_(isatty(STDERR_FILENO) && log::level() >= log::Level::info && total > 0),
      last_() {}

Progress::~Progress() { finish(); }

void Progress::update(int64_t done) {
  if (!active_) return;
  auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const int width = 30;
  int filled = static_cast<int>(width * done / total_);
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r%s: %s [%s] %lld/%lld", log::tool().c_str(), label_.c_str(), bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_));
  std::fflush(stderr);
  log::set_progress_line(true);
}

void Progress::finish() {
  if (!active_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  log::set_progress_line(false);
  active_ = false;
}

}  // namespace paramkit
