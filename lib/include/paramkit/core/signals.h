// SIGINT/SIGTERM handling: the first signal asks long jobs to stop at the next safe point; a second
// one removes registered temp files and exits at once.
#pragma once
#include <string>

namespace paramkit {

void install_signal_handlers();
bool stop_requested();
// Throws Interrupted when a stop was requested.
void check_stop();
// Temp files to remove if the process must exit from inside a signal handler.
void register_temp_file(const std::string& path);
void unregister_temp_file(const std::string& path);
// For tests only: raise SIGKILL when the environment variable NAME equals VALUE (the fault-injection hook
// the kill/resume tests use; a no-op otherwise).
void test_kill_point(const char* name, long value);

}  // namespace paramkit
