// The command layer every tool is written in. A tool is a name, a description and its commands; a
// command is a name, a help text with a runnable example, its options and a `run` that returns a typed
// result. Tool owns what every tool must do the same way: subcommand dispatch, the common flags
// (accepted before or after the subcommand), --config files, logging, signals, provenance, timers,
// --metrics (typed results become JSON here, at the edge) and the mapping of errors to exit codes.
//
//   struct InfoCommand : cli::TypedCommand<InfoResult> {      // to_json(json&, const InfoResult&) by ADL
//     InfoCommand() : TypedCommand("info", "List tensors", "ckpt-tool info model.safetensors") {}
//     void add_options(CLI::App& app) override { app.add_option("path", path)->required(); }
//     InfoResult run(cli::Context& ctx) override { return describe(path); }
//     std::string path;
//   };
//   int main(int argc, char** argv) {
//     cli::Tool tool("ckpt-tool", "Inspect, convert and compare checkpoints");
//     tool.add<InfoCommand>();
//     return tool.main(argc, argv);
//   }
#pragma once
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace paramkit::cli {

// The flags every tool has (conventions.md).
struct CommonOptions {
  uint64_t seed = 0;
  int threads = 0;  // 0: the library default
  std::string device = "cpu";
  bool verbose = false, quiet = false;
  std::string metrics;
};

// Wall-clock timers; each lands in --metrics under "timings" (seconds, summed per name).
class Timers {
 public:
  class Scope {
   public:
    Scope(Timers& t, std::string name) : timers_(t), name_(std::move(name)), start_(std::chrono::steady_clock::now()) {}
    ~Scope() { timers_.add(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Timers& timers_;
    std::string name_;
    std::chrono::steady_clock::time_point start_;
  };
  // { auto t = ctx.timers.scope("fit"); ... }  times the block.
  Scope scope(std::string name) { return Scope(*this, std::move(name)); }
  void add(const std::string& name, double seconds);
  nlohmann::json to_json() const { return values_; }

 private:
  nlohmann::json values_ = nlohmann::json::object();
};

// What a command's run() gets besides its own options.
struct Context {
  CommonOptions common;
  Timers timers;
  int exit_code = 0;  // a command may set 1 for an answer that is "no" (e.g. checkpoints differ)
  bool write_metrics = true;  // false: another process of the job reports (a launched job's ranks but 0)
};

class Command {
 public:
  // example: a command line that runs as written on a fresh build (shown in --help).
  Command(std::string name, std::string help, std::string example)
      : name_(std::move(name)), help_(std::move(help)), example_(std::move(example)) {}
  virtual ~Command() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::string& example() const { return example_; }
  // Registers the command's options (its own and the shared groups of cli/options.h).
  virtual void add_options(CLI::App& app) = 0;
  // Runs and returns the results for --metrics (TypedCommand implements it).
  virtual nlohmann::json execute(Context& ctx) = 0;

 private:
  std::string name_, help_, example_;
};

// A command whose run() returns a Result; JSON comes from to_json(nlohmann::json&, const Result&),
// found by argument-dependent lookup in Result's namespace.
template <class Result>
class TypedCommand : public Command {
 public:
  using Command::Command;
  virtual Result run(Context& ctx) = 0;
  nlohmann::json execute(Context& ctx) final {
    nlohmann::json j = run(ctx);
    return j;
  }
};

// Sets up a library runtime from the common flags (LibTorch's threads, seed and device); a tool without
// one accepts only --device cpu.
using Runtime = std::function<void(const CommonOptions&)>;

class Tool {
 public:
  Tool(std::string name, std::string description);
  // Adds a subcommand (the tool then requires one) or, with add_main, the tool's only command, whose
  // options are the tool's top-level flags.
  template <class C, class... A>
  C& add(A&&... args) {
    auto c = std::make_unique<C>(std::forward<A>(args)...);
    C& ref = *c;
    commands_.push_back(std::move(c));
    return ref;
  }
  template <class C, class... A>
  C& add_main(A&&... args) {
    single_ = true;
    return add<C>(std::forward<A>(args)...);
  }
  // An old spelling of a flag kept working (hidden from --help), e.g. alias("--out", "--output").
  void alias(std::string old_flag, std::string flag);
  void set_runtime(Runtime runtime) { runtime_ = std::move(runtime); }
  // Parses argv, runs the chosen command and returns the process exit code: 0, 1 runtime failure,
  // 2 bad usage or input, 130 stopped by SIGINT/SIGTERM.
  int main(int argc, char** argv);

 private:
  int run(int argc, char** argv);
  std::string name_, description_;
  std::vector<std::unique_ptr<Command>> commands_;
  std::vector<std::pair<std::string, std::string>> aliases_;
  Runtime runtime_;
  bool single_ = false;
};

// CLI11's messages with every digit of a bound such as the largest double: numbers of more than 16
// digits in their %g form.
std::string shorten_numbers(const std::string& message);

// The effective configuration of a parsed app: every long option of it and of its parsed subcommands.
nlohmann::json effective_config(const CLI::App& app);

}  // namespace paramkit::cli
