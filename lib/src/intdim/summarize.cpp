#include "paramkit/intdim/summarize.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "paramkit/core/error.h"
#include "paramkit/core/sample.h"
#include "paramkit/io/json.h"

namespace paramkit::intdim {

std::vector<Run> read_runs(const std::vector<std::string>& paths, const std::string& metric) {
  std::vector<Run> runs;
  std::string model, model_source;
  std::optional<double> shuffled;
  for (const auto& p : paths) {
    const nlohmann::json j = read_json(p);
    if (!j.is_object()) throw InputError(p, "", "expected an intdim-probe train report (a JSON object)");
    const nlohmann::json& d = json_field(j, "d", p);
    const nlohmann::json& a = json_field(j, metric, p);
    if (!d.is_number_integer() || d.get<int64_t>() < 0) throw InputError(p, "d", "expected a whole number >= 0");
    if (!a.is_number() || !std::isfinite(a.get<double>()) || a.get<double>() < 0 || a.get<double>() > 1)
      throw InputError(p, metric, "expected a number in [0, 1] (an unfinished run has null)");
    if (j.contains("shuffled_labels") && j["shuffled_labels"].is_number()) {
      const double f = j["shuffled_labels"].get<double>();
      if (shuffled && *shuffled != f)
        throw InputError(p, "shuffled_labels", fmt::format("{} but {} has {}: one sweep, one fraction of shuffled labels", f, model_source, *shuffled));
      shuffled = f;
    }
    if (j.contains("model") && j["model"].is_string()) {
      if (model.empty()) {
        model = j["model"].get<std::string>();
        model_source = p;
      } else if (j["model"].get<std::string>() != model) {
        throw InputError(p, "model", "'" + j["model"].get<std::string>() + "' but " + model_source + " is '" + model + "': one sweep, one model");
      }
    }
    runs.push_back({d.get<int64_t>(), a.get<double>(), p});
  }
  return runs;
}

namespace {
Threshold find(const std::vector<Level>& levels, const std::string& name, double baseline, double fraction) {
  Threshold t;
  t.baseline_name = name;
  t.baseline = baseline;
  t.target = fraction * baseline;
  std::optional<Level> below;
  for (const auto& l : levels) {
    if (l.d == 0) continue;
    if (l.mean >= t.target) {
      t.reached = true;
      t.d = l.d;
      t.at = l;
      t.below = below;
      t.d_interpolated = static_cast<double>(l.d);
      if (below && l.mean > below->mean)
        t.d_interpolated = static_cast<double>(below->d) +
                           (t.target - below->mean) / (l.mean - below->mean) * static_cast<double>(l.d - below->d);
      return t;
    }
    below = l;
  }
  t.below = below;  // the largest tested d, short of the target
  return t;
}

nlohmann::json level_json(const std::optional<Level>& l) {
  if (!l) return nullptr;
  return {{"d", l->d}, {"mean", l->mean}, {"sd", l->sd}, {"runs", l->runs}};
}
}  // namespace

Summary summarize(const std::vector<Run>& runs, double threshold, double global_baseline) {
  if (!(threshold > 0 && threshold <= 1)) throw UsageError("--threshold: expected a fraction in (0, 1]");
  if (!(global_baseline > 0 && global_baseline <= 1)) throw UsageError("--global-baseline: expected an accuracy in (0, 1]");
  std::map<int64_t, Sample> by_d;
  for (const auto& r : runs) by_d[r.d].add(r.accuracy);
  Summary s;
  s.threshold = threshold;
  for (const auto& [d, acc] : by_d) {
    Level l;
    l.d = d;
    l.runs = static_cast<int64_t>(acc.size());
    l.mean = acc.mean();
    l.sd = acc.sd();
    s.levels.push_back(l);
  }
  if (std::none_of(s.levels.begin(), s.levels.end(), [](const Level& l) { return l.d > 0; }))
    throw UsageError("no subspace runs (d > 0) to summarize");
  if (!s.levels.empty() && s.levels.front().d == 0) s.thresholds.push_back(find(s.levels, "individual", s.levels.front().mean, threshold));
  s.thresholds.push_back(find(s.levels, "global", global_baseline, threshold));
  return s;
}

nlohmann::json to_json(const Summary& s) {
  nlohmann::json levels = nlohmann::json::array(), th = nlohmann::json::array();
  for (const auto& l : s.levels) levels.push_back(level_json(l));
  for (const auto& t : s.thresholds)
    th.push_back({{"baseline", t.baseline_name},
                  {"baseline_accuracy", t.baseline},
                  {"target_accuracy", t.target},
                  {"reached", t.reached},
                  {"d_int", t.reached ? nlohmann::json(t.d) : nlohmann::json(nullptr)},
                  {"d_int_interpolated", t.reached ? nlohmann::json(t.d_interpolated) : nlohmann::json(nullptr)},
                  {"below", level_json(t.below)},
                  {"at", level_json(t.at)}});
  return {{"threshold", s.threshold}, {"levels", levels}, {"thresholds", th}};
}

}  // namespace paramkit::intdim
