// A progress bar on stderr, drawn only when stderr is a terminal and logging is not quiet.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace paramkit {

class Progress {
 public:
  Progress(std::string label, int64_t total);
  ~Progress();
  void update(int64_t done);
  void finish();
  bool active() const { return active_; }

 private:
  std::string label_;
  int64_t total_;
  bool active_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace paramkit
