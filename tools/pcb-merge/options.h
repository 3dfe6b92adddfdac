// pcb-merge's flags and how they become a merge::MergeJob and merge::SearchOptions.
#pragma once
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "paramkit/cli/tool.h"
#include "paramkit/io/dtype.h"
#include "paramkit/merge/merge_job.h"
#include "paramkit/merge/search.h"

struct MergeFlags {
  void add_options(CLI::App& app);
  // The job: the flags that map one to one, then --merge-config where no flag was given (flags given
  // on the command line win; --models and a config's models exclude each other), then the per-model
  // and method flags over both; seed, threads and device from the common flags. UsageError naming the
  // flag for values out of range and for an output that cannot be the merge's, before any work.
  paramkit::merge::MergeJob make_job(const paramkit::cli::CommonOptions& common) const;
  // --search and its flags; UsageError for --eval-cmd without a search and out-of-range values.
  paramkit::merge::SearchOptions make_search() const;

  paramkit::merge::MergeJob direct;  // --base, --models, --method, --t, --pcb-*, --allow-missing
  std::string merge_config, output, memory_budget, lambda_grid;
  std::vector<double> weights, densities, lambdas, lambda_range;
  double gamma = 0.01, epsilon = 0.15;
  bool normalize = false, no_normalize = false, rescale = false, no_rescale = false;
  std::optional<paramkit::DType> dtype;
  uint64_t shard_size = 0;
  paramkit::merge::SearchOptions search;
  // Given on the command line (they override the models' or the config's values only then).
  const CLI::Option *gamma_flag = nullptr, *epsilon_flag = nullptr, *clamp_flag = nullptr;
  const CLI::Option *method_flag = nullptr, *base_flag = nullptr, *models_flag = nullptr, *t_flag = nullptr,
                    *ratio_flag = nullptr, *variant_flag = nullptr, *scope_flag = nullptr, *budget_flag = nullptr;
};
