// The shared tool runner: subcommands, common flags, JSON config, logging, signals, runtime set-up,
// provenance, timers, --metrics and exit codes.
#include "paramkit/cli/tool.h"
#include "paramkit/cli/options.h"

#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <thread>

#include <cstring>
#include <sstream>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/memory.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"

namespace paramkit::cli {
namespace {

nlohmann::json typed(const std::string& s) {
  if (s == "true") return true;
  if (s == "false") return false;
  char* end = nullptr;
  long long i = std::strtoll(s.c_str(), &end, 10);
  if (!s.empty() && end && *end == '\0') return i;
  double d = std::strtod(s.c_str(), &end);
  if (!s.empty() && end && *end == '\0') return d;
  return s;
}

void collect(const CLI::App& app, nlohmann::json& out) {
  for (const CLI::Option* opt : app.get_options()) {
    const std::string name = opt->get_single_name();
    if (name.empty() || name == "help" || name == "config" || name == "version" || opt->get_lnames().empty()) continue;
    nlohmann::json v;
    if (opt->count() > 0) {
      const auto& res = opt->results();
      if (opt->get_items_expected_max() == 0 && res.size() <= 1) v = true;  // flag
      else if (res.size() == 1 && opt->get_expected_max() <= 1) v = typed(res[0]);
      else {
        v = nlohmann::json::array();
        for (const auto& r : res) v.push_back(typed(r));
      }
    } else if (opt->get_items_expected_max() == 0) {
      v = false;
    } else {
      const std::string d = opt->get_default_str();
      v = d.empty() ? nlohmann::json() : typed(d);
    }
    out[opt->get_lnames()[0]] = v;
  }
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->parsed()) {
      nlohmann::json s = nlohmann::json::object();
      collect(*sub, s);
      out[sub->get_name()] = s;
    }
  }
}

// --config files: JSON objects whose keys are long option names; nested objects hold the options of a
// subcommand. Old spellings (Tool::alias) are accepted as keys too.
class JsonConfig : public CLI::Config {
 public:
  JsonConfig(std::vector<std::pair<std::string, std::string>> aliases, const CLI::App* root) : aliases_(std::move(aliases)), root_(root) {}
  std::string to_config(const CLI::App* app, bool, bool, std::string) const override {
    nlohmann::json j = nlohmann::json::object();
    collect(*app, j);
    return j.dump(2);
  }
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::stringstream ss;
    ss << input.rdbuf();
    nlohmann::json j;
    try {
      j = parse_json(ss.str(), "--config");
    } catch (const InputError& e) {
      throw CLI::ConversionError(e.what());
    }
    if (!j.is_object()) throw CLI::ConversionError("--config: expected a JSON object of option names");
    std::vector<CLI::ConfigItem> out;
    flatten(j, {}, out);
    return out;
  }

 private:
  void flatten(const nlohmann::json& j, const std::vector<std::string>& parents, std::vector<CLI::ConfigItem>& out) const {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const auto& v = it.value();
      if (v.is_object()) {
        auto p = parents;
        p.push_back(it.key());
        flatten(v, p, out);
        continue;
      }
      CLI::ConfigItem item;
      item.parents = parents;
      item.name = it.key();
      for (const auto& [old_flag, flag] : aliases_)
        if (item.name == old_flag.substr(2)) item.name = flag.substr(2);
      // A flat key that names an option of the chosen subcommand, not of the tool, is that option.
      if (parents.empty() && root_ && !root_->get_option_no_throw("--" + item.name))
        for (const CLI::App* sub : root_->get_subcommands())
          if (sub->get_option_no_throw("--" + item.name)) item.parents = {sub->get_name()};
      auto str = [](const nlohmann::json& x) { return x.is_string() ? x.get<std::string>() : x.dump(); };
      if (v.is_null()) continue;
      if (v.is_array()) {
        for (const auto& x : v) item.inputs.push_back(str(x));
      } else {
        item.inputs.push_back(str(v));
      }
      out.push_back(item);
    }
  }
  std::vector<std::pair<std::string, std::string>> aliases_;
  const CLI::App* root_ = nullptr;
};

void register_common(CLI::App& app, CommonOptions& c) {
  app.add_option("--seed", c.seed, "Random seed, 0 to 2^64-1 (never the clock)")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--threads", c.threads, "CPU threads (0: the library default; at most 4 per core)")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--device", c.device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_flag("-v,--verbose", c.verbose, "More log output on stderr");
  app.add_flag("-q,--quiet", c.quiet, "Only errors on stderr");
  app.add_option("--metrics", c.metrics, "Write run metrics as JSON to this file");
}

// Every numeric flag value is finite (except options marked with allow_infinity): "nan", "inf" and overflowing numbers are refused by name, so no
// command sees them (ranges are each flag's own check).
void check_finite_values(const CLI::App& app) {
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->count() == 0 || opt->get_name().empty() || opt->get_type_name() == kInfinityTypeName) continue;
    for (const std::string& r : opt->results()) {
      char* end = nullptr;
      errno = 0;
      const double v = std::strtod(r.c_str(), &end);
      const bool numeric = !r.empty() && end && *end == '\0';
      if (numeric && (!std::isfinite(v) || errno == ERANGE) && std::fabs(v) != 0.0)
        throw UsageError(opt->get_name() + ": expected a finite number, got '" + r.substr(0, 40) + "'");
    }
  }
  for (const CLI::App* sub : app.get_subcommands()) check_finite_values(*sub);
}

// Before any work: each output's folder (or the nearest folder above it that exists) is a writable folder.
void check_writable(const std::string& path, const std::string& flag) {
  if (path.empty() || path == "-") return;
  std::filesystem::path p = std::filesystem::absolute(path).parent_path();
  std::error_code ec;
  while (!p.empty() && !std::filesystem::exists(p, ec) && p != p.root_path()) p = p.parent_path();
  if (!std::filesystem::is_directory(p, ec))
    throw UsageError(flag + " " + path + ": " + p.string() + " is not a folder");
  if (access(p.c_str(), W_OK | X_OK) != 0)
    throw UsageError(flag + " " + path + ": the folder " + p.string() + " is not writable");
}

void check_outputs(const CLI::App& app) {
  for (const CLI::Option* opt : app.get_options())
    if (opt->get_group() == "Outputs" && opt->count() > 0)
      for (const std::string& r : opt->results()) check_writable(r, opt->get_name());
  for (const CLI::App* sub : app.get_subcommands()) check_outputs(*sub);
}

// LibTorch's messages carry a C++ backtrace; users get the first part.
std::string clean_message(std::string m) {
  for (const char* cut : {"\nException raised from", "Exception raised from"}) {
    const size_t p = m.find(cut);
    if (p != std::string::npos && p > 0) m.resize(p);
  }
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}
}  // namespace

// CLI11's range messages print bounds like the largest double with all 309 digits: shorten any number
// longer than 16 digits to its %g form.
std::string shorten_numbers(const std::string& m) {
  std::string out;
  for (size_t i = 0; i < m.size();) {
    size_t j = i;
    while (j < m.size() && std::isdigit(static_cast<unsigned char>(m[j]))) ++j;
    if (j - i > 16) {
      size_t k = j;
      if (k < m.size() && m[k] == '.')
        for (++k; k < m.size() && std::isdigit(static_cast<unsigned char>(m[k])); ++k) {
        }
      out += fmt::format("{:g}", std::strtod(m.substr(i, k - i).c_str(), nullptr));
      i = k;
    } else if (j > i) {
      out += m.substr(i, j - i);
      i = j;
    } else {
      out += m[i++];
    }
  }
  return out;
}

void Timers::add(const std::string& name, double seconds) {
  values_[name] = values_.value(name, 0.0) + seconds;
}

nlohmann::json effective_config(const CLI::App& app) {
  nlohmann::json j = nlohmann::json::object();
  collect(app, j);
  return j;
}

Tool::Tool(std::string name, std::string description) : name_(std::move(name)), description_(std::move(description)) {}

void Tool::alias(std::string old_flag, std::string flag) { aliases_.emplace_back(std::move(old_flag), std::move(flag)); }

int Tool::main(int argc, char** argv) {
  log::set_tool(name_);
  try {
    return run(argc, argv);
  } catch (const Error& e) {
    log::write(log::Level::error, e.what());
    return e.exit_code();
  } catch (const CLI::Error& e) {
    log::write(log::Level::error, shorten_numbers(e.what()));
    return 2;
  } catch (const std::exception& e) {
    log::write(log::Level::error, clean_message(e.what()));
    return 1;
  }
}

int Tool::run(int argc, char** argv) {
  CLI::App app(description_, name_);
  // Defaults are recorded in provenance; a flag given twice takes the last value (scripts override).
  app.option_defaults()->always_capture_default()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.set_version_flag("--version", name_ + " " + version() + " (" + git_commit() + ")");
  app.get_formatter()->column_width(34);
  app.config_formatter(std::make_shared<JsonConfig>(aliases_, &app));
  app.set_config("--config", "", "JSON file of option values (keys are long flag names; command-line flags win)");
  app.allow_config_extras(CLI::config_extras_mode::error);
  Context ctx;
  register_common(app, ctx.common);
  const std::string exit_codes = "\n\nExit codes: 0 success, 1 runtime failure, 2 bad usage or input, 130 stopped by a signal.";

  std::vector<std::pair<CLI::App*, Command*>> subs;
  if (single_) {
    if (commands_.size() != 1) throw std::logic_error("a tool with add_main has exactly one command");
    commands_[0]->add_options(app);
    app.footer("Example:\n  " + commands_[0]->example() + exit_codes);
  } else {
    app.require_subcommand(1);
    app.fallthrough();  // common flags also after the subcommand
    std::string examples = "Examples:";
    for (auto& c : commands_) {
      CLI::App* sub = app.add_subcommand(c->name(), c->help());
      sub->footer("Example:\n  " + c->example() + exit_codes);
      c->add_options(*sub);
      subs.emplace_back(sub, c.get());
      examples += "\n  " + c->example();
    }
    app.footer(examples + exit_codes);
  }

  // Old spellings of flags become the current ones before parsing.
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    for (const auto& [old_flag, flag] : aliases_) {
      if (a == old_flag) a = flag;
      else if (a.rfind(old_flag + "=", 0) == 0) a = flag + a.substr(old_flag.size());
    }
    args.push_back(a);
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments reversed
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    const std::string ini = "INI was not able to parse ";
    if (msg.rfind(ini, 0) == 0) {
      const CLI::Option* cfg = app.get_config_ptr();
      const std::string file = cfg && cfg->count() > 0 ? cfg->results().back() : "--config";
      msg = file + ": unknown key '" + msg.substr(ini.size()) + "' (keys are long flag names)";
    }
    // CLI11 may report a missing required option or subcommand before an unknown flag: name the flag.
    std::string unknown;
    for (const std::string& r : app.remaining())
      if (r.size() > 1 && r[0] == '-') {
        unknown = r;
        break;
      }
    if (!unknown.empty() && msg.rfind("The following argument", 0) != 0) {
      msg = "unknown flag '" + unknown + "'";
    } else if (!single_ && app.get_subcommands().empty() && msg.find("subcommand") != std::string::npos) {
      std::string names;
      for (const auto& c : commands_) names += (names.empty() ? "" : ", ") + c->name();
      msg = "a subcommand is required: " + names;
      for (const std::string& r : app.remaining())
        if (!r.empty() && r[0] != '-') {
          msg = "unknown subcommand '" + r + "' (subcommands: " + names + ")";
          break;
        }
    }
    log::write(log::Level::error, shorten_numbers(msg));
    log::write(log::Level::error, "run '" + name_ + " --help' for usage");
    return 2;
  }

  const CommonOptions& c = ctx.common;
  if (c.verbose && c.quiet) throw UsageError("-v/--verbose and -q/--quiet exclude each other");
  check_finite_values(app);
  const int max_threads = 4 * static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  if (c.threads > max_threads)
    throw UsageError("--threads " + std::to_string(c.threads) + ": at most " + std::to_string(max_threads) + " on this machine (4 per core)");
  check_writable(c.metrics, "--metrics");
  check_outputs(app);
  log::set_level(c.quiet ? log::Level::error : c.verbose ? log::Level::debug : log::Level::info);
  install_signal_handlers();
  if (runtime_) runtime_(c);
  else if (c.device != "cpu") throw UsageError("--device " + c.device + ": " + name_ + " runs on the CPU only");

  Command* cmd = single_ ? commands_[0].get() : nullptr;
  for (auto& [sub, command] : subs)
    if (sub->parsed()) cmd = command;
  if (!cmd) throw UsageError("a subcommand is required; run '" + name_ + " --help'");

  Provenance& prov = current_provenance();
  prov.tool = name_;
  prov.seed = c.seed;
  prov.config = effective_config(app);
  const auto start = std::chrono::steady_clock::now();
  nlohmann::json results = cmd->execute(ctx);
  if (!c.metrics.empty() && ctx.write_metrics) {
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nlohmann::json m = {{"tool", name_},
                        {"version", version()},
                        {"command", single_ ? nlohmann::json(nullptr) : nlohmann::json(cmd->name())},
                        {"provenance", prov.to_json()},
                        {"wall_s", wall},
                        {"peak_rss_bytes", peak_rss_bytes()},
                        {"timings", ctx.timers.to_json()},
                        {"results", results}};
    write_json(c.metrics, m);
  }
  return ctx.exit_code;
}

}  // namespace paramkit::cli
