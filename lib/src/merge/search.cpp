// Grid and random lambda search over merges, scored by an external command.
#include "paramkit/merge/search.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/rng.h"
#include "paramkit/core/signals.h"
#include "paramkit/core/subprocess.h"

namespace fs = std::filesystem;

namespace paramkit::merge {

namespace {

double grid_number(const std::string& text, const std::string& all) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  while (used < text.size() && text[used] == ' ') ++used;
  if (text.empty() || used != text.size() || !std::isfinite(v))
    throw UsageError("--lambda-grid: expected START:STOP:STEP or a comma list of finite numbers, got '" + all.substr(0, 80) + "'");
  if (!(std::fabs(v) <= kMaxScale))
    throw UsageError("--lambda-grid: " + short_number(v) + " is out of range: lambdas must have magnitude at most " + short_number(kMaxScale));
  return v;
}
}  // namespace

std::vector<double> parse_grid(const std::string& text) {
  std::vector<double> v;
  auto too_many = [&](double count) {
    return UsageError("--lambda-grid: " + short_number(count) + " values; at most " + std::to_string(kMaxCandidates) +
                      " candidates (each one is a merge and an evaluation)");
  };
  if (text.find(':') != std::string::npos) {
    size_t a = text.find(':'), b = text.find(':', a + 1);
    if (b == std::string::npos || text.find(':', b + 1) != std::string::npos)
      throw UsageError("--lambda-grid: expected START:STOP:STEP, got '" + text.substr(0, 80) + "'");
    const double start = grid_number(text.substr(0, a), text), stop = grid_number(text.substr(a + 1, b - a - 1), text);
    double step = 0;
    try {
      step = std::stod(text.substr(b + 1));
    } catch (const std::logic_error&) {
    }
    if (!(step > 0) || !std::isfinite(step) || stop < start)
      throw UsageError("--lambda-grid: expected START:STOP:STEP with STOP >= START and STEP > 0, got '" + text.substr(0, 80) + "'");
    // The number of values, before any is made.
    const double count = std::floor((stop - start) / step + 1e-6) + 1;
    if (!(count <= kMaxCandidates)) throw too_many(count);
    for (int k = 0;; ++k) {
      double x = start + k * step;
      if (x > stop + step * 1e-6) break;
      v.push_back(std::round(x * 1e9) / 1e9);
    }
  } else {
    const double count = static_cast<double>(std::count(text.begin(), text.end(), ',')) + 1;
    if (count > kMaxCandidates) throw too_many(count);
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t e = text.find(',', pos);
      if (e == std::string::npos) e = text.size();
      v.push_back(grid_number(text.substr(pos, e - pos), text));
      pos = e + 1;
    }
  }
  if (v.empty()) throw UsageError("--lambda-grid: no values in '" + text.substr(0, 80) + "'");
  return v;
}

double run_score_command(const std::string& command) {
  CommandOptions o;
  o.what = "--eval-cmd";
  o.max_output = 64 * 1024;
  o.keep_tail = true;  // only the last line matters: bounded memory for chatty commands
  const std::string out = run_command(command, o);
  std::string last;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t e = out.find('\n', pos);
    if (e == std::string::npos) e = out.size();
    std::string line = out.substr(pos, e - pos);
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
    pos = e + 1;
  }
  char* end = nullptr;
  double score = std::strtod(last.c_str(), &end);
  while (end && (*end == ' ' || *end == '\t' || *end == '\r')) ++end;
  if (last.empty() || !end || *end != '\0' || !std::isfinite(score))
    throw Error("--eval-cmd must print a number on its last line, got '" + last.substr(0, 200) + "': " + command);
  return score;
}

namespace {
// {model} -> the candidate's quoted path; appended as the last argument when absent.
std::string with_model(const std::string& cmd, const std::string& path) {
  const std::string key = "{model}";
  if (cmd.find(key) == std::string::npos) return cmd + " " + shell_quote(path);
  std::string r;
  size_t pos = 0, k;
  while ((k = cmd.find(key, pos)) != std::string::npos) {
    r += cmd.substr(pos, k - pos) + shell_quote(path);
    pos = k + key.size();
  }
  return r + cmd.substr(pos);
}

struct RemoveOnExit {
  fs::path p;
  ~RemoveOnExit() {
    std::error_code ec;
    fs::remove_all(p, ec);
  }
};
}  // namespace

void to_json(nlohmann::json& j, const SearchResult& r) {
  j = r.merge;
  nlohmann::json all = nlohmann::json::array();
  for (const Candidate& c : r.candidates) all.push_back({{"lambda", c.lambda}, {"score", c.score}});
  const Candidate& best = r.candidates.at(r.best);
  j["search"] = {{"kind", r.kind}, {"candidates", all}, {"best_lambda", best.lambda}, {"best_score", best.score}};
}

SearchResult search_lambda(const MergeJob& job, const SearchOptions& o) {
  if (o.eval_cmd.empty()) throw UsageError("--search needs --eval-cmd");
  if (o.kind != "grid" && o.kind != "random") throw UsageError("--search must be grid or random, got '" + o.kind + "'");
  if (o.kind == "random" && (o.budget < 1 || o.budget > kMaxCandidates || !(o.lo < o.hi)))
    throw UsageError("random search needs --search-budget in [1, " + std::to_string(kMaxCandidates) + "] and --lambda-range LO < HI");
  if (!(std::fabs(o.lo) <= kMaxScale && std::fabs(o.hi) <= kMaxScale))
    throw UsageError("--lambda-range: LO and HI must be finite with magnitude at most " + short_number(kMaxScale));
  if (o.grid.size() > static_cast<size_t>(kMaxCandidates))
    throw UsageError("--lambda-grid: at most " + std::to_string(kMaxCandidates) + " candidates");
  check_output(job.out, "output");  // the output comes last: check it before the first candidate
  const size_t n = job.models.size();
  std::vector<std::vector<double>> candidates;
  if (o.kind == "grid") {
    for (double l : o.grid.empty() ? parse_grid("0.8:2.2:0.1") : o.grid) candidates.push_back({l});
  } else {
    Rng rng(job.seed, 0x1a3bda);
    for (int k = 0; k < o.budget; ++k) {
      std::vector<double> l(n);
      for (auto& x : l) x = o.lo + (o.hi - o.lo) * rng.uniform();
      candidates.push_back(l);
    }
  }
  auto configure = [&](const std::vector<double>& lam) {
    MergeJob c = job;
    if (lam.size() == 1) {
      c.method.lambda = c.method.pcb.lambda = lam[0];
      c.method.pcb.lambdas.clear();
    } else if (c.method.method == "pcb") {
      c.method.pcb.lambdas = lam;
    } else {
      for (size_t i = 0; i < n; ++i) c.params[i].weight *= lam[i];
    }
    return c;
  };
  fs::path dir = job.out.parent_path().empty() ? fs::path(".") : job.out.parent_path();
  std::string ext = job.out.extension().string();
  fs::path cand = dir / (".pcb-merge-candidate-" + std::to_string(::getpid()) + ext);
  RemoveOnExit cleanup{cand};
  SearchResult result;
  result.kind = o.kind;
  double best = -INFINITY;
  for (size_t k = 0; k < candidates.size(); ++k) {
    check_stop();
    MergeJob c = configure(candidates[k]);
    c.out = cand;
    run_merge(c);
    std::string cmd = with_model(o.eval_cmd, cand.string());
    double score = run_score_command(cmd);
    result.candidates.push_back({candidates[k], score});
    log::info("candidate {}/{}: lambda {} -> score {}", k + 1, candidates.size(), nlohmann::json(candidates[k]).dump(), score);
    if (score > best) {
      best = score;
      result.best = k;
    }
  }
  result.merge = run_merge(configure(candidates[result.best]));
  return result;
}

}  // namespace paramkit::merge
