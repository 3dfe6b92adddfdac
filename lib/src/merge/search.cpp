// Grid and random lambda search over merges, scored by an external command.
#include "paramkit/merge/search.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <unistd.h>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/rng.h"
#include "paramkit/core/signals.h"

namespace fs = std::filesystem;

namespace paramkit::merge {

std::vector<double> parse_grid(const std::string& text) {
  std::vector<double> v;
  auto bad = [&] { return UsageError("--lambda-grid: expected START:STOP:STEP or a comma list, got '" + text + "'"); };
  try {
    if (text.find(':') != std::string::npos) {
      size_t a = text.find(':'), b = text.find(':', a + 1);
      if (b == std::string::npos) throw bad();
      double start = std::stod(text.substr(0, a)), stop = std::stod(text.substr(a + 1, b - a - 1)), step = std::stod(text.substr(b + 1));
      if (!(step > 0) || stop < start) throw bad();
      for (int k = 0;; ++k) {
        double x = start + k * step;
        if (x > stop + step * 1e-6) break;
        v.push_back(std::round(x * 1e9) / 1e9);
      }
    } else {
      size_t pos = 0;
      while (pos <= text.size()) {
        size_t e = text.find(',', pos);
        if (e == std::string::npos) e = text.size();
        v.push_back(std::stod(text.substr(pos, e - pos)));
        pos = e + 1;
      }
    }
  } catch (const std::logic_error&) {
    throw bad();
  }
  if (v.empty()) throw bad();
  return v;
}

double run_score_command(const std::string& command) {
  std::FILE* p = ::popen(command.c_str(), "r");
  if (!p) throw Error("--eval-cmd: cannot run: " + command);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  if (status != 0) throw Error("--eval-cmd failed (status " + std::to_string(status) + "): " + command);
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
    throw Error("--eval-cmd must print a number on its last line, got '" + last + "': " + command);
  return score;
}

namespace {
std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

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
  if (o.kind == "random" && (o.budget < 1 || !(o.lo < o.hi)))
    throw UsageError("random search needs --search-budget >= 1 and --lambda-range LO < HI");
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
