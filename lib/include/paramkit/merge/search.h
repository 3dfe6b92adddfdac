// Lambda search against the user's own evaluation: each candidate merge is written, the evaluation
// command runs on it and prints a score (higher is better), and the best merge becomes the output.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/merge/merge_job.h"

namespace paramkit::merge {

// Candidates of one search at most (--search-budget, --lambda-grid): each one is a merge and a run of
// the evaluation command.
constexpr int kMaxCandidates = 10000;

struct SearchOptions {
  std::string kind = "none";    // none, grid (one global lambda) or random (per-model lambdas)
  std::vector<double> grid;     // grid values (default 0.8..2.2 step 0.1, the paper's)
  int budget = 20;              // random: candidates
  double lo = 0.8, hi = 1.3;    // random: per-model lambda range
  std::string eval_cmd;         // shell command; {model} is replaced by the candidate's path
};

// "0.8:2.2:0.1" or "1,1.2,1.5" -> values; UsageError (naming --lambda-grid) otherwise, for more than
// kMaxCandidates values (counted before any is made) and for values beyond kMaxScale.
std::vector<double> parse_grid(const std::string& text);

struct Candidate {
  std::vector<double> lambda;  // one global lambda, or one per model (random search)
  double score = 0;
};

struct SearchResult {
  std::string kind;                   // grid or random
  std::vector<Candidate> candidates;  // in the order tried
  size_t best = 0;                    // index of the best candidate (the first of equal scores)
  MergeResult merge;                  // the final merge, with the best candidate's lambdas
};
// The merge's JSON plus "search": {"kind","candidates":[{"lambda","score"}],"best_lambda","best_score"}.
void to_json(nlohmann::json& j, const SearchResult& r);

// Runs the search and writes the best merge to job.out.
SearchResult search_lambda(const MergeJob& job, const SearchOptions& options);

// Runs `command` with /bin/sh in a process group of its own, returning the number on the last
// non-empty line of its stdout. A stop request (SIGINT/SIGTERM) ends the group (SIGTERM, SIGKILL
// after 1 s) and throws Interrupted.
double run_score_command(const std::string& command);

}  // namespace paramkit::merge
