// Logging to stderr as "tool: message", filtered by -q/-v. stdout is for data only.
#pragma once
#include <fmt/format.h>
#include <string>

namespace paramkit::log {

enum class Level { error = 0, warn = 1, info = 2, debug = 3 };

void set_tool(std::string name);
const std::string& tool();
void set_level(Level level);
Level level();
void write(Level level, const std::string& message);
// A progress bar is drawn on stderr's current line (core/progress.h): log lines clear it first, so
// they never glue onto the bar; the bar redraws at its next update.
void set_progress_line(bool drawn);

template <class... A>
void error(fmt::format_string<A...> f, A&&... a) { write(Level::error, fmt::format(f, std::forward<A>(a)...)); }
template <class... A>
void warn(fmt::format_string<A...> f, A&&... a) { write(Level::warn, fmt::format(f, std::forward<A>(a)...)); }
template <class... A>
void info(fmt::format_string<A...> f, A&&... a) { write(Level::info, fmt::format(f, std::forward<A>(a)...)); }
template <class... A>
void debug(fmt::format_string<A...> f, A&&... a) { write(Level::debug, fmt::format(f, std::forward<A>(a)...)); }

}  // namespace paramkit::log
