// Hyperparameter declarations, transforms, grid and random enumeration, successive halving's plan.
#include "paramkit/hpo/space.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "paramkit/core/error.h"
#include "paramkit/core/rng.h"

namespace paramkit::hpo {

namespace {
double sigmoid(double u) { return u >= 0 ? 1.0 / (1.0 + std::exp(-u)) : std::exp(u) / (1.0 + std::exp(u)); }
double logit(double p) { return std::log(p) - std::log1p(-p); }
// The relaxed interval's ends: discrete ones run over [lo, hi + 1).
double top(const HyperParam& p) { return p.kind == Kind::discrete ? p.hi + 1 : p.hi; }
}  // namespace

const char* kind_name(Kind k) { return k == Kind::discrete ? "discrete" : "continuous"; }
const char* transform_name(Transform t) { return t == Transform::log_sigmoid ? "log-sigmoid" : "sigmoid"; }

double HyperParam::value(double u) const {
  const double s = sigmoid(u);
  if (transform == Transform::log_sigmoid) return std::exp(std::log(lo) + (std::log(top(*this)) - std::log(lo)) * s);
  return lo + (top(*this) - lo) * s;
}

double HyperParam::unconstrained(double v) const {
  const double t = top(*this);
  if (kind == Kind::discrete) v = std::floor(std::clamp(v, lo, hi)) + 0.5;  // the middle of its integer's interval
  double f = transform == Transform::log_sigmoid ? (std::log(v) - std::log(lo)) / (std::log(t) - std::log(lo)) : (v - lo) / (t - lo);
  // Keep the value strictly inside: the ends map to +-13.8 (1e-6 of the range from the end).
  f = std::clamp(f, 1e-6, 1 - 1e-6);
  return logit(f);
}

double HyperParam::project(double v) const {
  if (kind == Kind::continuous) return std::clamp(v, lo, hi);
  return std::clamp(std::floor(v), lo, hi);
}

void HyperParam::validate(const std::string& source) const {
  const std::string where = source.empty() ? "hyperparameter " + name : source + ": " + name;
  if (name.empty()) throw UsageError(source.empty() ? "a hyperparameter without a name" : source + ": a hyperparameter without a name");
  if (!std::isfinite(lo) || !std::isfinite(hi) || std::abs(lo) > 1e12 || std::abs(hi) > 1e12)
    throw UsageError(fmt::format("{}: range [{}, {}] must be finite (|x| <= 1e12)", where, lo, hi));
  if (!(lo < hi)) throw UsageError(fmt::format("{}: empty range [{}, {}] (lo must be below hi)", where, lo, hi));
  if (kind == Kind::discrete && (lo != std::floor(lo) || hi != std::floor(hi)))
    throw UsageError(fmt::format("{}: a discrete range needs integer ends, got [{}, {}]", where, lo, hi));
  if (transform == Transform::log_sigmoid && lo <= 0) throw UsageError(fmt::format("{}: a log-sigmoid range needs lo > 0, got {}", where, lo));
  if (!std::isfinite(init) || init < lo || init > hi)
    throw UsageError(fmt::format("{}: initial value {} is outside its range [{}, {}]", where, init, lo, hi));
}

std::vector<HyperParam> catalogue(int64_t hidden_layers, bool images) {
  std::vector<HyperParam> c;
  c.push_back({"dropout.in", Kind::continuous, Transform::sigmoid, 0.0, 0.95, 0.05});
  for (int64_t i = 1; i <= hidden_layers; ++i) c.push_back({fmt::format("dropout.{}", i), Kind::continuous, Transform::sigmoid, 0.0, 0.95, 0.05});
  c.push_back({"l2", Kind::continuous, Transform::log_sigmoid, 1e-7, 1e-1, 1e-5});
  if (images) {
    c.push_back({"aug.shift", Kind::continuous, Transform::sigmoid, 0.0, 0.25, 0.02});       // fraction of the side
    c.push_back({"aug.cutout_length", Kind::discrete, Transform::sigmoid, 0, 20, 4});        // pixels
    c.push_back({"aug.cutout_holes", Kind::discrete, Transform::sigmoid, 0, 4, 1});
    c.push_back({"aug.brightness", Kind::continuous, Transform::sigmoid, 0.0, 0.5, 0.05});   // max |offset|
    c.push_back({"aug.contrast", Kind::continuous, Transform::sigmoid, 0.0, 0.5, 0.05});     // max |log factor|
  }
  return c;
}

namespace {
const HyperParam& find(const std::string& name, const std::vector<HyperParam>& cat, const std::string& source) {
  for (const auto& p : cat)
    if (p.name == name) return p;
  std::string known;
  for (const auto& p : cat) known += (known.empty() ? "" : ", ") + p.name;
  throw UsageError(fmt::format("{}unknown hyperparameter '{}' (this model has: {})", source.empty() ? "" : source + ": ", name, known));
}
double number(const std::string& text, const std::string& what) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(v)) throw UsageError(fmt::format("{}: '{}' is not a finite number", what, text));
  return v;
}
}  // namespace

HyperParam parse_declaration(const std::string& text, const std::vector<HyperParam>& cat) {
  const auto eq = text.find('=');
  HyperParam p = find(text.substr(0, eq), cat, "--hyper");
  if (eq != std::string::npos) {
    std::vector<std::string> parts;
    std::string rest = text.substr(eq + 1);
    size_t start = 0;
    while (true) {
      const auto c = rest.find(':', start);
      parts.push_back(rest.substr(start, c == std::string::npos ? std::string::npos : c - start));
      if (c == std::string::npos) break;
      start = c + 1;
    }
    if (parts.size() != 1 && parts.size() != 3)
      throw UsageError(fmt::format("--hyper {}: expected name, name=init or name=init:lo:hi", text));
    p.init = number(parts[0], "--hyper " + p.name + " init");
    if (parts.size() == 3) {
      p.lo = number(parts[1], "--hyper " + p.name + " lo");
      p.hi = number(parts[2], "--hyper " + p.name + " hi");
    }
  }
  p.validate("--hyper");
  return p;
}

std::vector<HyperParam> parse_declarations(const nlohmann::json& j, const std::vector<HyperParam>& cat, const std::string& source) {
  if (!j.is_array() || j.empty()) throw InputError(source, "", "expected a non-empty JSON list of hyperparameter declarations");
  std::vector<HyperParam> out;
  std::set<std::string> seen;
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& e = j[i];
    const std::string at = fmt::format("[{}]", i);
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) throw InputError(source, at, "expected an object with a \"name\"");
    HyperParam p;
    try {
      p = find(e["name"].get<std::string>(), cat, "");
    } catch (const UsageError& err) {
      throw InputError(source, at + ".name", err.what());
    }
    try {
      if (e.contains("kind")) {
        const std::string k = e["kind"].get<std::string>();
        if (k != "continuous" && k != "discrete") throw InputError(source, at + ".kind", "expected continuous or discrete");
        p.kind = k == "discrete" ? Kind::discrete : Kind::continuous;
      }
      if (e.contains("transform")) {
        const std::string t = e["transform"].get<std::string>();
        if (t != "sigmoid" && t != "log-sigmoid") throw InputError(source, at + ".transform", "expected sigmoid or log-sigmoid");
        p.transform = t == "log-sigmoid" ? Transform::log_sigmoid : Transform::sigmoid;
      }
      if (e.contains("range")) {
        const auto r = e["range"].get<std::vector<double>>();
        if (r.size() != 2) throw InputError(source, at + ".range", "expected [lo, hi]");
        p.lo = r[0];
        p.hi = r[1];
      }
      if (e.contains("init")) p.init = e["init"].get<double>();
    } catch (const nlohmann::json::exception&) {
      throw InputError(source, at, "a field has the wrong type");
    }
    if (!seen.insert(p.name).second) throw InputError(source, at + ".name", "'" + p.name + "' is declared twice");
    try {
      p.validate();
    } catch (const UsageError& err) {
      throw InputError(source, at, err.what());
    }
    out.push_back(p);
  }
  return out;
}

nlohmann::json to_json(const HyperParam& p) {
  return {{"name", p.name}, {"kind", kind_name(p.kind)}, {"transform", transform_name(p.transform)}, {"range", {p.lo, p.hi}}, {"init", p.init}};
}

std::vector<Config> grid(const std::vector<HyperParam>& space, int64_t points, int64_t max_configs) {
  if (points < 1) throw UsageError("grid: at least one point per hyperparameter");
  std::vector<std::vector<double>> axes;
  double total = 1;
  for (const auto& p : space) {
    std::vector<double> a;
    if (p.kind == Kind::discrete && p.hi - p.lo + 1 <= static_cast<double>(points)) {
      for (double v = p.lo; v <= p.hi; v += 1) a.push_back(v);
    } else {
      for (int64_t i = 0; i < points; ++i) {
        const double f = points == 1 ? 0.5 : static_cast<double>(i) / static_cast<double>(points - 1);
        double v = p.transform == Transform::log_sigmoid ? std::exp(std::log(p.lo) + f * (std::log(p.hi) - std::log(p.lo))) : p.lo + f * (p.hi - p.lo);
        if (points > 1 && i == 0) v = p.lo;  // the ends exactly
        if (points > 1 && i == points - 1) v = p.hi;
        if (p.kind == Kind::discrete) v = std::round(v);
        if (a.empty() || a.back() != v) a.push_back(v);
      }
    }
    total *= static_cast<double>(a.size());
    axes.push_back(a);
  }
  if (total > static_cast<double>(max_configs))
    throw UsageError(fmt::format("grid: {:g} configurations, more than {} (fewer points or hyperparameters)", total, max_configs));
  std::vector<Config> out(1);
  for (const auto& a : axes) {
    std::vector<Config> next;
    for (const auto& c : out)
      for (double v : a) {
        Config d = c;
        d.push_back(v);
        next.push_back(d);
      }
    out = std::move(next);
  }
  return out;
}

std::vector<Config> random_configs(const std::vector<HyperParam>& space, int64_t n, uint64_t seed) {
  if (n < 1 || n > 1000000) throw UsageError(fmt::format("random search: {} configurations is outside [1, 1000000]", n));
  Rng rng(seed, /*stream=*/0x5e4c);
  std::vector<Config> out;
  for (int64_t i = 0; i < n; ++i) {
    Config c;
    for (const auto& p : space) {
      if (p.kind == Kind::discrete)
        c.push_back(p.lo + static_cast<double>(rng.below(static_cast<uint64_t>(p.hi - p.lo + 1))));
      else if (p.transform == Transform::log_sigmoid)
        c.push_back(std::exp(std::log(p.lo) + rng.uniform() * (std::log(p.hi) - std::log(p.lo))));
      else
        c.push_back(p.lo + rng.uniform() * (p.hi - p.lo));
    }
    out.push_back(c);
  }
  return out;
}

std::vector<HalvingRound> halving_rounds(int64_t configs, int64_t min_epochs, int64_t eta, int64_t max_epochs) {
  if (configs < 1 || min_epochs < 1 || eta < 2 || max_epochs < min_epochs)
    throw UsageError(fmt::format("successive halving: needs configurations >= 1, min epochs >= 1, eta >= 2 and max epochs >= min epochs "
                                 "(got {}, {}, {}, {})", configs, min_epochs, eta, max_epochs));
  std::vector<HalvingRound> rounds;
  int64_t n = configs, e = min_epochs;
  while (true) {
    rounds.push_back({e, n});
    if (n == 1 || e >= max_epochs) break;
    n = (n + eta - 1) / eta;
    e = std::min(max_epochs, e * eta);
  }
  return rounds;
}

int64_t halving_cost(const std::vector<HalvingRound>& rounds) {
  int64_t cost = 0, before = 0;
  for (const auto& r : rounds) {
    cost += r.survivors * (r.epochs - before);
    before = r.epochs;
  }
  return cost;
}

}  // namespace paramkit::hpo
