#include "data_flags.h"

#include "paramkit/cli/options.h"

void DataFlags::add(CLI::App& app, const std::string& data_help) {
  app.add_option("data", path, data_help)->required();
  app.add_option("--time", time, "Time column")->capture_default_str();
  app.add_option("--status", status, "Event indicator column")->capture_default_str();
  app.add_option("--entry", entry, "Entry-time column: left truncation (fit); in cox the start of (start, stop] rows, with --time their stop");
  app.add_option("--event-value", event_value, "Status value meaning an event (default: R's rule, 0/1 -> 1, 1/2 -> 2)");
  app.add_option("--na", na, "Rows with missing values: drop (with a count) or fail")->capture_default_str()->check(CLI::IsMember({"drop", "fail"}));
  app.add_option("--ref", refs, "Reference level of a categorical covariate: column=level (repeatable)");
  app.add_option("--conf", conf, "Confidence level of intervals")->capture_default_str()->check(CLI::Range(0.5, 0.9999));
}

paramkit::survival::DataOptions DataFlags::options() const {
  paramkit::survival::DataOptions o;
  o.time = time;
  o.status = status;
  o.entry = entry;
  if (!std::isnan(event_value)) o.event_value = event_value;
  o.na_fail = na == "fail";
  for (const auto& r : refs) o.refs.insert(paramkit::cli::parse_name_value(r, "--ref"));
  o.conf = conf;
  o.validate();
  return o;
}
