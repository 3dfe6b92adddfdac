// Logits and generation speed of a Hugging Face model folder through paramkit_lm, for comparing with
// transformers (scripts/device/lm_transformers.py) or with the fixtures of tests/data/lm/.
//   bench-lm-logits --model DIR [--device cpu|cuda] [--threads N]
//       [--ids FILE.json | --seed S --batch B --length T] [--out FILE.safetensors] [--greedy N]
//       [--time-batch B --time-prompt P --time-new N]
// --ids: {"input_ids": [[...], ...], "attention_mask": [[...], ...]} (mask optional: all ones; left
// padding: 0 before the tokens). Without --ids: random ids in [1, vocab) from --seed, mask all ones.
// --out: a safetensors file with input_ids, attention_mask [B,T] int64 and logits [B,T,V] float32 (every
// position, padding included), plus greedy_tokens [B,N] int64 with --greedy N (-1 after a row's EOS).
// --time-*: a separate timed greedy generation (KV cache) from random prompts, after a warm-up.
// Prints one JSON object. Float32 compute; TF32 is left at LibTorch's default (off for matmuls).
#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include "paramkit/core/error.h"
#include "paramkit/io/json.h"
#include "paramkit/lm/generate.h"
#include "paramkit/torch/device.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;
using namespace paramkit::lm;

namespace {

const char* kUsage =
    "usage: bench-lm-logits --model DIR [--device cpu|cuda] [--threads N]\n"
    "         [--ids FILE.json | --seed S --batch B --length T] [--out FILE.safetensors] [--greedy N]\n"
    "         [--time-batch B --time-prompt P --time-new N]\n";

int64_t to_int(const std::string& flag, const std::string& v, int64_t min) {
  size_t used = 0;
  int64_t x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size()) throw UsageError(flag + ": expected a whole number, got '" + v + "'");
  if (x < min) throw UsageError(flag + ": must be at least " + std::to_string(min) + ", got " + v);
  return x;
}

// [B,T] int64 from a JSON list of equal-length lists.
torch::Tensor int_matrix(const nlohmann::json& j, const std::string& what) {
  if (!j.is_array() || j.empty() || !j[0].is_array() || j[0].empty())
    throw InputError(what + ": expected a non-empty list of non-empty lists of whole numbers");
  const int64_t B = static_cast<int64_t>(j.size()), T = static_cast<int64_t>(j[0].size());
  auto t = torch::empty({B, T}, torch::kLong);
  auto a = t.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    if (!j[b].is_array() || static_cast<int64_t>(j[b].size()) != T)
      throw InputError(what + ": row " + std::to_string(b) + " is not a list of " + std::to_string(T) + " numbers");
    for (int64_t i = 0; i < T; ++i) {
      if (!j[b][i].is_number_integer()) throw InputError(what + ": row " + std::to_string(b) + " holds " + j[b][i].dump());
      a[b][i] = j[b][i].get<int64_t>();
    }
  }
  return t;
}

void sync(const c10::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

int run(int argc, char** argv) {
  std::map<std::string, std::string> f;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "-h" || k == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    static const char* known[] = {"--model", "--device", "--threads", "--ids", "--seed", "--batch", "--length",
                                  "--out", "--greedy", "--time-batch", "--time-prompt", "--time-new"};
    if (std::find(std::begin(known), std::end(known), k) == std::end(known)) throw UsageError("unknown argument '" + k + "'");
    if (i + 1 >= argc) throw UsageError(k + ": missing value");
    if (f.count(k)) throw UsageError(k + ": given twice");
    f[k] = argv[++i];
  }
  auto get = [&](const std::string& k, const std::string& d) { return f.count(k) ? f[k] : d; };
  if (!f.count("--model")) throw UsageError("--model: required (a folder with config.json and model.safetensors)");
  const c10::Device device = parse_device(get("--device", "cpu"));
  const int64_t threads = to_int("--threads", get("--threads", "0"), 0);
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
  const int64_t greedy_n = to_int("--greedy", get("--greedy", "0"), 0);
  const int64_t tb = to_int("--time-batch", get("--time-batch", "0"), 0), tp = to_int("--time-prompt", get("--time-prompt", "32"), 1),
                tn = to_int("--time-new", get("--time-new", "128"), 1);
  if (f.count("--ids") && (f.count("--seed") || f.count("--batch") || f.count("--length")))
    throw UsageError("--ids: give either --ids or --seed/--batch/--length, not both");
  if (greedy_n > 0 && !f.count("--out")) throw UsageError("--greedy: needs --out (the tokens are written there)");
  const bool forward = f.count("--out") > 0;
  if (!forward && tb == 0) throw UsageError("nothing to do: give --out and/or --time-batch");

  LoadOptions lo;
  lo.device = device;
  CausalLM model = load_causal_lm(get("--model", ""), lo);
  model->eval();
  const LmConfig& c = model->config();
  torch::NoGradGuard ng;
  nlohmann::json out = {{"bench", "lm-logits"},
                        {"model", get("--model", "")},
                        {"device", device.str()},
                        {"arch", c.arch == Arch::gpt2 ? "gpt2" : "llama"},
                        {"layers", c.num_layers},
                        {"hidden", c.hidden_size},
                        {"vocab", c.vocab_size},
                        {"dtype", "float32"}};
  if (device.is_cuda()) out["tf32_cublas"] = at::globalContext().allowTF32CuBLAS();

  if (forward) {
    torch::Tensor ids, mask;
    if (f.count("--ids")) {
      const auto j = read_json(f["--ids"]);
      if (!j.is_object() || !j.contains("input_ids")) throw InputError(f["--ids"] + ": expected an object with input_ids");
      ids = int_matrix(j["input_ids"], f["--ids"] + ": input_ids");
      mask = j.contains("attention_mask") ? int_matrix(j["attention_mask"], f["--ids"] + ": attention_mask")
                                          : torch::ones_like(ids);
      if (mask.sizes() != ids.sizes()) throw InputError(f["--ids"] + ": attention_mask and input_ids differ in shape");
    } else {
      const int64_t seed = to_int("--seed", get("--seed", "0"), 0), B = to_int("--batch", get("--batch", "4"), 1),
                    T = to_int("--length", get("--length", "32"), 1);
      auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
      ids = torch::randint(1, c.vocab_size, {B, T}, gen, torch::kLong);
      mask = torch::ones_like(ids);
    }
    if (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= c.vocab_size)
      throw InputError("input_ids: a token outside the vocabulary of " + std::to_string(c.vocab_size));
    if (((mask != 0) & (mask != 1)).any().item<bool>()) throw InputError("attention_mask: values other than 0 and 1");
    if (!mask.select(1, mask.size(1) - 1).all().item<bool>())
      throw InputError("attention_mask: every row must end with a token (left padding)");
    if (ids.size(1) > c.max_positions) throw InputError("input_ids: longer than the model's positions");
    auto t0 = std::chrono::steady_clock::now();
    auto logits = model->forward(ids.to(device), mask.to(device));
    sync(device);
    out["forward_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<std::pair<std::string, torch::Tensor>> tensors = {
        {"input_ids", ids}, {"attention_mask", mask}, {"logits", logits.to(torch::kCPU).contiguous()}};
    if (greedy_n > 0) {
      GenerateOptions o;
      o.greedy = true;
      o.max_new_tokens = greedy_n;
      o.logprobs = false;
      auto r = generate(*model, ids.to(device), mask.to(device), o);
      auto toks = r.sequences.narrow(1, r.prompt_length, r.new_tokens()).masked_fill(r.response_mask == 0, -1);
      auto full = torch::full({ids.size(0), greedy_n}, -1, torch::kLong);
      full.narrow(1, 0, r.new_tokens()).copy_(toks.to(torch::kCPU));
      tensors.emplace_back("greedy_tokens", full);
    }
    save_tensors(f["--out"], tensors, {{"format", "pt"}, {"origin", "bench-lm-logits"}});
    out["out"] = f["--out"];
    out["batch"] = ids.size(0);
    out["length"] = ids.size(1);
    out["max_abs_logit"] = logits.abs().max().item<double>();
  }

  if (tb > 0) {
    if (tp + tn > c.max_positions) throw UsageError("--time-new: --time-prompt + --time-new exceed the model's positions");
    auto gen = at::detail::createCPUGenerator(1);
    auto ids = torch::randint(1, c.vocab_size, {tb, tp}, gen, torch::kLong).to(device);
    auto mask = torch::ones_like(ids);
    GenerateOptions o;
    o.greedy = true;
    o.logprobs = false;
    o.max_new_tokens = std::min<int64_t>(tn, 8);
    generate(*model, ids, mask, o);  // warm-up (kernels, allocator)
    sync(device);
    o.max_new_tokens = tn;
    auto t0 = std::chrono::steady_clock::now();
    auto r = generate(*model, ids, mask, o);
    sync(device);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Steps run x batch, as transformers' output length counts (a row past EOS still costs its step).
    out["generate"] = {{"batch", tb},
                       {"prompt", tp},
                       {"new_tokens", r.new_tokens()},
                       {"seconds", s},
                       {"tokens_per_s", static_cast<double>(tb * r.new_tokens()) / s},
                       {"tokens_before_eos", r.response_mask.sum().item<int64_t>()}};
    out["tokens_per_s"] = out["generate"]["tokens_per_s"];
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const Error& e) {
    std::fprintf(stderr, "bench-lm-logits: %s\n%s", e.what(), dynamic_cast<const UsageError*>(&e) ? kUsage : "");
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-lm-logits: %s\n", e.what());
    return 1;
  }
}
