// The shared tool runner: flags, JSON config, logging, signals, threads, provenance, metrics, exit codes.
#include "paramkit/core/run.h"

#include <ATen/Parallel.h>
#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cstdio>
#include <fstream>
#include <sstream>

#include "paramkit/core/device.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"

namespace paramkit {

void reuse_freed_memory() {
#ifdef __GLIBC__
  mallopt(M_ARENA_MAX, 1);                  // threads share the heap, so one's frees serve another
  mallopt(M_MMAP_THRESHOLD, 32 << 20);      // glibc's largest: blocks up to 32 MiB come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);       // keep up to 1 GiB of free heap for reuse
#endif
}

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

void flatten(const nlohmann::json& j, const std::vector<std::string>& parents, std::vector<CLI::ConfigItem>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    CLI::ConfigItem item;
    item.parents = parents;
    item.name = it.key();
    const auto& v = it.value();
    if (v.is_object()) {
      auto p = parents;
      p.push_back(it.key());
      // Nested objects hold the options of a subcommand given on the command line.
      flatten(v, p, out);
      continue;
    }
    auto str = [](const nlohmann::json& x) { return x.is_string() ? x.get<std::string>() : x.dump(); };
    if (v.is_array()) {
      for (const auto& x : v) item.inputs.push_back(str(x));
    } else if (v.is_null()) {
      continue;
    } else {
      item.inputs.push_back(str(v));
    }
    out.push_back(item);
  }
}
}  // namespace

std::string JsonConfig::to_config(const CLI::App* app, bool, bool, std::string) const {
  nlohmann::json j = nlohmann::json::object();
  collect(*app, j);
  return j.dump(2);
}

std::vector<CLI::ConfigItem> JsonConfig::from_config(std::istream& input) const {
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

nlohmann::json effective_config(const CLI::App& app) {
  nlohmann::json j = nlohmann::json::object();
  collect(app, j);
  return j;
}

void CommonOptions::register_flags(CLI::App& app) {
  app.config_formatter(std::make_shared<JsonConfig>());
  app.set_config("--config", "", "JSON file of option values (keys are long flag names; command-line flags win)");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.add_option("--seed", seed, "Random seed (never the clock)")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: LibTorch's default)")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--device", device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_flag("-v,--verbose", verbose, "More log output on stderr");
  app.add_flag("-q,--quiet", quiet, "Only errors on stderr");
  app.add_option("--metrics", metrics, "Write run metrics as JSON to this file");
}

Tool::Tool(std::string name, std::string description, std::string example) : name_(std::move(name)), app_(description, name_) {
  // Defaults are recorded in provenance; a flag given twice takes the last value (scripts override).
  app_.option_defaults()->always_capture_default()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app_.footer("Example:\n  " + example + "\n\nExit codes: 0 success, 1 runtime failure, 2 bad usage or input.");
  app_.set_version_flag("--version", std::string(version()) + " (" + git_commit() + ")");
  ctx_.common.register_flags(app_);
  app_.get_formatter()->column_width(34);
}

int Tool::run(int argc, char** argv, const std::function<int(RunContext&)>& body) {
  log::set_tool(name_);
  ctx_.app = &app_;
  try {
    try {
      app_.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app_.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return app_.exit(e);
    } catch (const CLI::CallForVersion& e) {
      return app_.exit(e);
    } catch (const CLI::ParseError& e) {
      std::string msg = e.what();
      const std::string ini = "INI was not able to parse ";
      if (msg.rfind(ini, 0) == 0) {
        const CLI::Option* cfg = app_.get_config_ptr();
        const std::string file = cfg && cfg->count() > 0 ? cfg->results().back() : "--config";
        msg = file + ": unknown key '" + msg.substr(ini.size()) + "' (keys are long flag names)";
      }
      log::write(log::Level::error, msg);
      log::write(log::Level::error, "run '" + name_ + " --help' for usage");
      return 2;
    }
    const auto& c = ctx_.common;
    if (c.verbose && c.quiet) throw UsageError("-v/--verbose and -q/--quiet exclude each other");
    log::set_level(c.quiet ? log::Level::error : c.verbose ? log::Level::debug : log::Level::info);
    install_signal_handlers();
    if (c.threads > 0) {
      at::set_num_threads(c.threads);
      at::set_num_interop_threads(1);
    }
    parse_device(c.device);
    Provenance& prov = current_provenance();
    prov.tool = name_;
    prov.seed = c.seed;
    prov.config = effective_config(app_);
    torch::manual_seed(c.seed);
    ctx_.start = std::chrono::steady_clock::now();
    int rc = body(ctx_);
    if (!c.metrics.empty()) {
      double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx_.start).count();
      rusage ru{};
      getrusage(RUSAGE_SELF, &ru);
      nlohmann::json m = {{"tool", name_}, {"version", version()}, {"provenance", prov.to_json()},
                          {"wall_s", wall}, {"peak_rss_bytes", static_cast<int64_t>(ru.ru_maxrss) * 1024}, {"results", ctx_.results}};
      write_json(c.metrics, m);
    }
    return rc;
  } catch (const Error& e) {
    log::write(log::Level::error, e.what());
    return e.exit_code();
  } catch (const CLI::Error& e) {
    log::write(log::Level::error, e.what());
    return 2;
  } catch (const c10::Error& e) {
    log::write(log::Level::error, std::string("LibTorch: ") + e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    log::write(log::Level::error, e.what());
    return 1;
  }
}

}  // namespace paramkit
