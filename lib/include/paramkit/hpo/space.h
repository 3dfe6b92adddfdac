// Hyperparameter spaces for tuning (stn-tune): declared hyperparameters with a kind, a range, a
// transform to an unconstrained value and an initial value; grid and random enumeration; successive
// halving's rounds. No LibTorch.
//
// Unconstrained u <-> value v (what Self-Tuning Networks' hypernetwork sees and what the model uses):
//   sigmoid:     v = lo + (hi - lo) sigmoid(u)                         (rates, strengths)
//   log-sigmoid: v = exp(log lo + (log hi - log lo) sigmoid(u))        (L2 and other scales; lo > 0)
// A discrete hyperparameter takes the integers lo..hi: its relaxed value runs over [lo, hi + 1) and the
// model uses floor of it (clamped to hi).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace paramkit::hpo {

enum class Kind { continuous, discrete };
enum class Transform { sigmoid, log_sigmoid };

struct HyperParam {
  std::string name;
  Kind kind = Kind::continuous;
  Transform transform = Transform::sigmoid;
  double lo = 0, hi = 1;
  double init = 0.5;

  // u -> the relaxed value in (lo, hi) (discrete: (lo, hi + 1)); value -> u (the value clamped inside; a
  // discrete value maps to the middle of its integer's interval, v + 0.5).
  double value(double u) const;
  double unconstrained(double value) const;
  // What the model uses: the relaxed value, floored and clamped for a discrete one.
  double project(double value) const;
  // UsageError naming `source` and the field: empty or inverted range, init outside, log range not > 0.
  void validate(const std::string& source = "") const;
};

// The hyperparameters a model offers (name, kind, default range, transform, default init), e.g. for an
// MLP with 2 hidden layers: dropout.in, dropout.1, dropout.2, l2; for images also aug.shift,
// aug.cutout_length, aug.cutout_holes, aug.brightness, aug.contrast.
std::vector<HyperParam> catalogue(int64_t hidden_layers, bool images);

// A declaration: "name", "name=init" or "name=init:lo:hi" (a catalogue entry with its init or range
// replaced). UsageError for an unknown name (listing the known ones), a bad number, an empty range.
HyperParam parse_declaration(const std::string& text, const std::vector<HyperParam>& catalogue);
// A JSON list of {"name", "kind", "transform", "range": [lo, hi], "init"} (every key but name optional:
// the catalogue's); InputError naming `source` and the entry.
std::vector<HyperParam> parse_declarations(const nlohmann::json& j, const std::vector<HyperParam>& catalogue, const std::string& source);
nlohmann::json to_json(const HyperParam& p);
const char* kind_name(Kind k);
const char* transform_name(Transform t);

using Config = std::vector<double>;  // one value per declared hyperparameter, in declaration order

// Grid: `points` values per hyperparameter, evenly spaced over [lo, hi] (in log space for log-sigmoid);
// a discrete one takes the integers of the range when there are at most `points`, else `points` rounded
// evenly spaced integers. All combinations, the first hyperparameter varying slowest. UsageError when
// there would be more than max_configs.
std::vector<Config> grid(const std::vector<HyperParam>& space, int64_t points, int64_t max_configs = 100000);
// Random: n configurations, each value uniform over its range (log-uniform for log-sigmoid; uniform
// integers for discrete), from `seed` (the project's generator: the same on every platform).
std::vector<Config> random_configs(const std::vector<HyperParam>& space, int64_t n, uint64_t seed);

// Successive halving (Jamieson & Talwalkar 2016): round r trains the survivors to min_epochs eta^r
// epochs in all and keeps the best ceil(n / eta) of them, until one is left or max_epochs is reached.
struct HalvingRound {
  int64_t epochs = 0;     // total epochs each survivor has after this round
  int64_t survivors = 0;  // configurations trained in this round
};
std::vector<HalvingRound> halving_rounds(int64_t configs, int64_t min_epochs, int64_t eta, int64_t max_epochs);
// Epochs a plan spends (each round's survivors times the epochs added in that round).
int64_t halving_cost(const std::vector<HalvingRound>& rounds);

}  // namespace paramkit::hpo
