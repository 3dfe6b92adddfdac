// nbody-rl train: the DQN agent on the paper's environment, checkpointed per episode and resumable;
// the trained policy (safetensors) out.
#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/provenance.h"
#include "paramkit/nbody/train.h"

using namespace paramkit;
using namespace paramkit::nbody;

namespace {

void add_dqn_flags(CLI::App& app, DqnOptions& d) {
  app.add_option("--hidden", d.hidden, "Width of the hidden layers")->capture_default_str();
  app.add_option("--repeats", d.repeats, "Times the shared hidden layer is applied")->capture_default_str();
  app.add_option("--lr", d.lr, "AdamW learning rate")->capture_default_str();
  app.add_option("--gamma", d.gamma, "Discount")->capture_default_str();
  app.add_option("--tau", d.tau, "Soft target update rate")->capture_default_str();
  app.add_option("--replay", d.replay, "Replay memory size")->capture_default_str();
  app.add_option("--batch", d.batch, "Batch size")->capture_default_str();
  app.add_option("--eps-start", d.eps_start, "Initial exploration rate")->capture_default_str();
  app.add_option("--eps-end", d.eps_end, "Final exploration rate")->capture_default_str();
  app.add_option("--eps-decay", d.eps_decay, "Exploration decay, in agent steps")->capture_default_str();
  app.add_flag("--eps-reset-each-episode", d.eps_reset_each_episode, "Restart the decay every episode (the reference code's behaviour)");
  app.add_flag("--double-dqn", d.double_dqn, "Double DQN targets (not in the paper)");
}

struct TrainCommand : cli::TypedCommand<TrainResult> {
  explicit TrainCommand(Trainer t)
      : TypedCommand("train", "Train the DQN agent on the paper's environment (checkpointed, resumable)",
                     "nbody-rl train --episodes 4 --steps 10 --batch 8 -o /tmp/nbody-policy.safetensors --checkpoint /tmp/nbody-ck.safetensors"),
        trainer(std::move(t)) {}
  void add_options(CLI::App& app) override {
    app.add_option("--integrator", config.env.integrator, "Integrator the agent drives")->capture_default_str();
    app.add_option("--episodes", config.episodes, "Training episodes")->capture_default_str();
    app.add_option("--reward", config.env.reward,
                   "reward5 (the paper's), error-cost (per step the change of -log10|dE/E0| - w log10 force evaluations: "
                   "the return is the error-vs-cost point of the episode) or error-cost-terminal (that return at the end)")
        ->capture_default_str();
    app.add_option("--cost-weight", config.env.cost_weight,
                   "Weight w of log10 force evaluations: reward5 subtracts w log10 of the step's (0: none); error-cost weighs "
                   "the episode's against -log10|dE/E0| (0: error only)");
    app.add_option("--steps", config.env.steps, "RL steps per episode")->capture_default_str();
    app.add_option("--reward-clip", config.env.reward_clip, "> 0: clip rewards to [-c, c] (not in the paper)");
    app.add_option("--step-time", config.env.step_time, "Years per RL step")->capture_default_str();
    cli::add_output(app, out, "The trained policy (safetensors)");
    config.checkpoint.every = 10;  // as before --checkpoint-every existed
    cli::add_checkpointing(app, config.checkpoint, "episodes");
    every_flag = app.get_option("--checkpoint-every");
    app.add_option("--log-jsonl", config.log, "Per-episode records (JSON Lines)")->group("Outputs");
    add_dqn_flags(app, config.dqn);
  }
  TrainResult run(cli::Context& ctx) override {
    TrainConfig c = config;
    c.seed = ctx.common.seed;
    // The preset every-10 applies to runs that checkpoint; --checkpoint-every given alone stays an error.
    if (c.checkpoint.path.empty() && every_flag->count() == 0) c.checkpoint.every = 0;
    c.validate();
    TrainResult r;
    {
      auto t = ctx.timers.scope("train");
      r = trainer(c);
    }
    // A run stopped by --stop-after leaves its checkpoint and no policy.
    if (r.finished) save_policy(out, r.policy, provenance_metadata());
    return r;
  }
  Trainer trainer;
  TrainConfig config;
  std::string out;
  CLI::Option* every_flag = nullptr;
};

}  // namespace

void add_train(cli::Tool& tool, Trainer trainer) { tool.add<TrainCommand>(std::move(trainer)); }
