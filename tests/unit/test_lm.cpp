// Causal LMs (lm/): logits against an independent plain-PyTorch reference (tests/data/lm/reference.py),
// KV-cached generation against full recomputation, left padding, Hugging Face folders, bad inputs.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include "helpers.h"
#include "paramkit/core/error.h"
#include "paramkit/lm/generate.h"
#include "paramkit/lm/model.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;
using namespace paramkit::lm;
namespace fs = std::filesystem;

namespace {

// Max |a - b| over the positions where mask [B,T] is 1 (a, b: [B,T,V] or [B,T]).
double masked_max_diff(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask) {
  auto m = mask.to(torch::kBool);
  auto d = (a - b).abs();
  if (d.dim() == 3) d = d.amax(-1);
  return d.masked_select(m).max().item<double>();
}

LmConfig tiny_gpt2() {
  auto c = LmConfig::gpt2(61, 24, 2, 3, 48);
  c.eos_token_ids = {60};
  return c;
}

LmConfig tiny_llama() {
  auto c = LmConfig::llama(67, 32, 48, 2, 4, 2, 64);  // GQA: 2 key/value heads for 4 heads
  c.rope_theta = 500.0;
  c.rope_scaling.type = "llama3";
  c.rope_scaling.factor = 8.0;
  c.rope_scaling.low_freq_factor = 1.0;
  c.rope_scaling.high_freq_factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = 16;
  c.eos_token_ids = {1, 2};
  return c;
}

// Larger weights than the 0.02 init, so that logits differ clearly between tokens.
CausalLM random_model(const LmConfig& c, Head head = Head::lm, uint64_t seed = 3) {
  CausalLM m(c, head, seed);
  torch::NoGradGuard ng;
  for (auto& p : m->parameters())
    if (p.dim() == 2) p.mul_(15.0);
  m->eval();
  return m;
}

std::vector<std::vector<int64_t>> some_prompts(int64_t vocab) {
  std::vector<std::vector<int64_t>> p = {{5, 9, 14, 3, 7, 22, 8}, {11, 4}, {30, 31, 32, 33}};
  for (auto& r : p)
    for (auto& t : r) t %= vocab;
  return p;
}

bool same_state(torch::nn::Module& a, torch::nn::Module& b) {
  auto sa = named_state(a), sb = named_state(b);
  if (sa.size() != sb.size()) return false;
  for (size_t i = 0; i < sa.size(); ++i)
    if (sa[i].first != sb[i].first || !torch::equal(sa[i].second, sb[i].second)) return false;
  return true;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return std::string("InputError: ") + e.what();
  } catch (const UsageError& e) {
    return std::string("UsageError: ") + e.what();
  } catch (const std::exception& e) {
    return std::string("other: ") + e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("lm logits equal the plain PyTorch reference for GPT-2, Llama (llama3 rope, GQA) and tied Llama") {
  for (std::string name : {"gpt2", "llama", "llama-tied"}) {
    CAPTURE(name);
    auto model = load_causal_lm(test::data_file(std::string("lm/") + name));
    auto exp = open_tensors(test::data_file(std::string("lm/") + name + "-expected.safetensors"));
    auto ids = read_tensor(*exp, "input_ids"), mask = read_tensor(*exp, "attention_mask");
    auto want = read_tensor(*exp, "logits");
    torch::NoGradGuard ng;
    // The padded batch in one call.
    auto got = model->forward(ids, mask);
    CHECK(got.sizes() == want.sizes());
    CHECK((got.scalar_type() == torch::kFloat));
    const double diff = masked_max_diff(got, want, mask);
    MESSAGE(name << ": max |logit - reference| = " << diff);
    CHECK(diff < 1e-5);
    // Each row alone, unpadded.
    for (int64_t b = 0; b < ids.size(0); ++b) {
      auto real = mask[b].nonzero().squeeze(1);
      auto row = model->forward(ids[b].index_select(0, real).unsqueeze(0));
      CHECK((row[0] - want[b].index_select(0, real)).abs().max().item<double>() < 1e-5);
    }
    // Greedy continuations of the same prompts (the reference recomputes the whole sequence per token).
    GenerateOptions o;
    o.greedy = true;
    o.max_new_tokens = 6;
    auto r = generate(*model, ids, mask, o);
    auto want_tokens = read_tensor(*exp, "greedy_tokens");
    for (int64_t b = 0; b < ids.size(0); ++b) {
      auto w = want_tokens[b];
      const int64_t n = (w >= 0).sum().item<int64_t>();
      CHECK(r.response_mask[b].sum().item<int64_t>() == n);
      CHECK(torch::equal(r.sequences[b].narrow(0, r.prompt_length, n), w.narrow(0, 0, n)));
    }
  }
}

TEST_CASE("lm KV-cached generation equals full recomputation, greedy and sampled, GPT-2 and Llama") {
  for (const auto& cfg : {tiny_gpt2(), tiny_llama()}) {
    CAPTURE(static_cast<int>(cfg.arch));
    auto model = random_model(cfg);
    auto prompts = some_prompts(cfg.vocab_size);
    for (int mode = 0; mode < 2; ++mode) {
      GenerateOptions o;
      o.greedy = mode == 0;
      o.temperature = 0.9;
      o.top_k = 20;
      o.top_p = 0.95;
      o.seed = 7;
      o.max_new_tokens = 12;
      o.eos_ids = {cfg.vocab_size - 1};
      auto a = generate(*model, prompts, o);
      o.use_cache = false;
      auto b = generate(*model, prompts, o);
      CHECK(torch::equal(a.sequences, b.sequences));
      CHECK(torch::equal(a.attention_mask, b.attention_mask));
      CHECK(torch::equal(a.response_mask, b.response_mask));
      CHECK((a.logprobs - b.logprobs).abs().max().item<double>() < 1e-5);
      // Same seed, same tokens; the logprobs are those of the chosen tokens under the same model.
      o.use_cache = true;
      auto c = generate(*model, prompts, o);
      CHECK(torch::equal(a.sequences, c.sequences));
      if (mode == 0) {
        auto full = sequence_logprobs(*model, a.sequences, a.attention_mask);
        auto tail = full.narrow(1, a.prompt_length - 1, a.new_tokens());
        CHECK(masked_max_diff(tail, a.logprobs, a.response_mask) < 1e-5);
      }
    }
    // Logits step by step through the cache equal one forward over the whole padded sequence.
    auto [ids, mask] = left_pad(prompts, 0);
    auto ext = torch::randint(cfg.vocab_size, {ids.size(0), 5}, torch::kLong);
    auto all_ids = torch::cat({ids, ext}, 1);
    auto all_mask = torch::cat({mask, torch::ones_like(ext)}, 1);
    torch::NoGradGuard ng;
    auto full = model->forward(all_ids, all_mask);
    auto cache = model->make_cache(ids.size(0), all_ids.size(1));
    std::vector<torch::Tensor> parts = {model->forward(ids, mask, &cache)};
    for (int64_t t = ids.size(1); t < all_ids.size(1); ++t)
      parts.push_back(model->forward(all_ids.narrow(1, t, 1), all_mask.narrow(1, 0, t + 1), &cache));
    CHECK(cache.length == all_ids.size(1));
    auto stepped = torch::cat(parts, 1);
    CHECK(masked_max_diff(stepped, full, all_mask) < 1e-5);
  }
}

TEST_CASE("lm left padding: logits at real tokens equal unpadded runs") {
  for (const auto& cfg : {tiny_gpt2(), tiny_llama()}) {
    auto model = random_model(cfg);
    auto prompts = some_prompts(cfg.vocab_size);
    auto [ids, mask] = left_pad(prompts, 0);
    torch::NoGradGuard ng;
    auto batch = model->forward(ids, mask);
    CHECK(std::isfinite(batch.abs().max().item<double>()));  // padded rows stay finite too
    for (size_t b = 0; b < prompts.size(); ++b) {
      auto row = model->forward(torch::tensor(prompts[b], torch::kLong).unsqueeze(0));
      const int64_t n = static_cast<int64_t>(prompts[b].size());
      auto got = batch[b].narrow(0, ids.size(1) - n, n);
      CHECK((got - row[0]).abs().max().item<double>() < 1e-5);
    }
  }
}

TEST_CASE("lm tensor names are transformers' names") {
  auto names = [](const LmConfig& c, Head h) {
    std::vector<std::string> n;
    CausalLM m(c, h);
    for (auto& [k, t] : named_state(*m)) n.push_back(k);
    return n;
  };
  auto g = names(tiny_gpt2(), Head::lm);
  CHECK(g.size() == 2 + 2 * 12 + 2);
  CHECK(g.front() == "transformer.wte.weight");
  CHECK(std::count(g.begin(), g.end(), "transformer.h.1.attn.c_attn.weight") == 1);
  CHECK(std::count(g.begin(), g.end(), "transformer.h.0.mlp.c_proj.bias") == 1);
  CHECK(std::count(g.begin(), g.end(), "transformer.ln_f.bias") == 1);
  CHECK(std::count(g.begin(), g.end(), "lm_head.weight") == 0);  // tied
  CausalLM gm(tiny_gpt2());
  CHECK(gm->named_parameters()["transformer.h.0.attn.c_attn.weight"].sizes() == torch::IntArrayRef({24, 72}));  // Conv1D [in, out]
  auto l = names(tiny_llama(), Head::lm);
  CHECK(l.size() == 1 + 2 * 9 + 1 + 1);
  CHECK(std::count(l.begin(), l.end(), "model.layers.1.self_attn.k_proj.weight") == 1);
  CHECK(std::count(l.begin(), l.end(), "model.layers.0.post_attention_layernorm.weight") == 1);
  CHECK(l.back() == "lm_head.weight");
  auto s = names(tiny_llama(), Head::score);
  CHECK(s.back() == "score.weight");
  CHECK(std::count(s.begin(), s.end(), "lm_head.weight") == 0);
  CausalLM lm(tiny_llama());
  CHECK(lm->named_parameters()["model.layers.0.self_attn.k_proj.weight"].sizes() == torch::IntArrayRef({16, 32}));
  // Seeded init: same seed, same weights; GPT-2's std 0.02.
  CausalLM a(tiny_gpt2(), Head::lm, 5), b(tiny_gpt2(), Head::lm, 5), c(tiny_gpt2(), Head::lm, 6);
  CHECK(same_state(*a, *b));
  CHECK_FALSE(same_state(*a, *c));
  CHECK(a->embedding_weight().std().item<double>() == doctest::Approx(0.02).epsilon(0.1));
}

TEST_CASE("lm Hugging Face folders: round trip single and sharded, old GPT-2 names, extra buffers") {
  auto dir = test::scratch("lm-hf");
  for (const auto& cfg : {tiny_gpt2(), tiny_llama()}) {
    auto model = random_model(cfg);
    SaveLmOptions so;
    save_causal_lm(*model, dir / "single", so);
    CHECK(fs::exists(dir / "single" / "model.safetensors"));
    CHECK(fs::exists(dir / "single" / "config.json"));
    auto back = load_causal_lm(dir / "single");
    CHECK(same_state(*model, *back));
    auto cfg_back = read_lm_config(dir / "single" / "config.json");
    CHECK(cfg_back.hidden_size == cfg.hidden_size);
    CHECK(cfg_back.num_kv_heads == cfg.num_kv_heads);
    CHECK(cfg_back.rope_scaling.type == cfg.rope_scaling.type);
    CHECK(cfg_back.rope_scaling.original_max_position_embeddings == cfg.rope_scaling.original_max_position_embeddings);
    CHECK(cfg_back.eos_token_ids == cfg.eos_token_ids);
    CHECK(cfg_back.tie_word_embeddings == cfg.tie_word_embeddings);
    auto reader = open_tensors(dir / "single" / "model.safetensors");
    CHECK(reader->metadata().at("format") == "pt");
    CHECK(reader->contains("lm_head.weight") == !cfg.tie_word_embeddings);
    // Saving again over the folder keeps its other files (a tokenizer), and side files come along.
    test::spit(dir / "single" / "tokenizer.json", "{}");
    test::spit(dir / "side.json", "{}");
    save_causal_lm(*model, dir / "single", so);
    CHECK(fs::exists(dir / "single" / "tokenizer.json"));
    fs::create_directories(dir / "tok");
    test::spit(dir / "tok" / "tokenizer_config.json", "{}");
    so.side_files_from = dir / "tok";
    so.shard_size = 6000;
    save_causal_lm(*model, dir / "sharded", so);
    so.side_files_from.clear();
    CHECK(fs::exists(dir / "sharded" / "tokenizer_config.json"));
    CHECK(fs::exists(dir / "sharded" / "model.safetensors.index.json"));
    CHECK(fs::exists(dir / "sharded" / "model-00002-of-00002.safetensors") == false);  // many more than 2
    auto sb = load_causal_lm(dir / "sharded");
    CHECK(same_state(*model, *sb));
    // bf16 on disk, float32 compute: exactly the bf16-rounded weights.
    so.shard_size = 0;
    so.dtype = DType::BF16;
    save_causal_lm(*model, dir / "bf16", so);
    auto bf = load_causal_lm(dir / "bf16");
    CHECK(torch::equal(bf->embedding_weight(), model->embedding_weight().to(torch::kBFloat16).to(torch::kFloat)));
    // bf16 compute.
    LoadOptions lo;
    lo.dtype = torch::kBFloat16;
    auto bc = load_causal_lm(dir / "single", lo);
    CHECK((bc->dtype() == torch::kBFloat16));
    auto ids = torch::tensor({{3, 4, 5, 6}}, torch::kLong);
    torch::NoGradGuard ng;
    auto l32 = model->forward(ids), l16 = bc->forward(ids);
    CHECK((l16.scalar_type() == torch::kFloat));
    CHECK((l32 - l16).abs().max().item<double>() < 0.1 * l32.abs().max().item<double>() + 0.1);
  }
  // Old GPT-2 files: no "transformer." prefix, attn.bias / attn.masked_bias buffers, lm_head.weight written.
  auto model = random_model(tiny_gpt2());
  std::vector<std::pair<std::string, torch::Tensor>> old;
  for (auto& [n, t] : named_state(*model)) old.push_back({n.substr(std::string("transformer.").size()), t});
  old.push_back({"h.0.attn.bias", torch::ones({1, 1, 48, 48}).tril()});
  old.push_back({"h.0.attn.masked_bias", torch::tensor(-1e4)});
  old.push_back({"lm_head.weight", model->embedding_weight()});
  fs::create_directories(dir / "old");
  save_tensors(dir / "old" / "model.safetensors", old, {{"format", "pt"}});
  test::spit(dir / "old" / "config.json", to_hf_json(tiny_gpt2()).dump());
  auto back = load_causal_lm(dir / "old");
  CHECK(same_state(*model, *back));
  // Config and weights given separately.
  auto sep = load_causal_lm(dir / "old" / "config.json", dir / "old" / "model.safetensors");
  CHECK(same_state(*model, *sep));
}

TEST_CASE("lm score head: values, reward at the last real token, started from an LM checkpoint") {
  auto cfg = tiny_llama();
  auto rm = random_model(cfg, Head::score);
  auto [ids, mask] = left_pad(some_prompts(cfg.vocab_size), 0);
  torch::NoGradGuard ng;
  auto values = rm->forward(ids, mask);
  CHECK(values.sizes() == ids.sizes());
  auto h = rm->hidden_states(ids, mask);
  CHECK((values - torch::matmul(h, rm->score_weight().t()).squeeze(-1)).abs().max().item<double>() < 1e-5);
  auto r = last_token_values(values, mask);
  CHECK(r.sizes() == torch::IntArrayRef({3}));
  CHECK(torch::equal(r, values.select(1, ids.size(1) - 1)));  // left padding: the last column
  auto right = torch::tensor({{1, 1, 0}, {1, 0, 0}}, torch::kLong);
  auto v = torch::tensor({{1.0f, 2.0f, 3.0f}, {4.0f, 5.0f, 6.0f}});
  CHECK(torch::equal(last_token_values(v, right), torch::tensor({2.0f, 4.0f})));
  // Save/load as a reward model; a value model started from the LM checkpoint.
  auto dir = test::scratch("lm-score");
  save_causal_lm(*rm, dir / "rm");
  auto back = load_causal_lm(dir / "rm", LoadOptions{Head::score});
  CHECK(same_state(*rm, *back));
  CHECK(read_lm_config(dir / "rm" / "config.json").raw.at("architectures")[0] == "LlamaForSequenceClassification");
  auto lm = random_model(cfg);
  save_causal_lm(*lm, dir / "lm");
  LoadOptions lo;
  lo.head = Head::score;
  CHECK(error_of([&] { load_causal_lm(dir / "lm", lo); }).find("score.weight: missing") != std::string::npos);
  lo.init_missing_score = true;
  auto vm = load_causal_lm(dir / "lm", lo);
  CHECK(torch::equal(vm->embedding_weight(), lm->embedding_weight()));
  CHECK(vm->score_weight().abs().sum().item<double>() > 0);
}

TEST_CASE("lm generation: EOS stops a row, pads after it, bounds name --max-new-tokens") {
  auto cfg = tiny_gpt2();
  auto model = random_model(cfg);
  auto prompts = some_prompts(cfg.vocab_size);
  GenerateOptions o;
  o.greedy = true;
  o.max_new_tokens = 8;
  o.eos_ids = {cfg.vocab_size - 1};
  auto free_run = generate(*model, prompts, o);
  // Make row 0's third generated token its EOS: it stops there, the others go on.
  const int64_t P = free_run.prompt_length;
  const int64_t e = free_run.sequences[0][P + 2].item<int64_t>();
  o.eos_ids = {e};
  o.pad_id = 0;
  auto r = generate(*model, prompts, o);
  CHECK(r.response_mask[0].sum().item<int64_t>() == 3);
  CHECK(r.sequences[0][P + 2].item<int64_t>() == e);
  if (r.new_tokens() > 3) {
    CHECK(r.sequences[0].narrow(0, P + 3, r.new_tokens() - 3).eq(0).all().item<bool>());
    CHECK(r.attention_mask[0].narrow(0, P + 3, r.new_tokens() - 3).eq(0).all().item<bool>());
    CHECK(r.logprobs[0].narrow(0, 3, r.new_tokens() - 3).eq(0).all().item<bool>());
  }
  CHECK(torch::equal(r.attention_mask.narrow(1, P, r.new_tokens()), r.response_mask));
  // Prompt 7 tokens + 42 > 48 positions.
  o.max_new_tokens = 42;
  auto msg = error_of([&] { generate(*model, prompts, o); });
  CHECK(msg.find("UsageError") == 0);
  CHECK(msg.find("--max-new-tokens") != std::string::npos);
  o.max_new_tokens = 41;
  CHECK(error_of([&] { generate(*model, prompts, o); }) == "no error");
  o.top_p = 0;
  CHECK(error_of([&] { generate(*model, prompts, o); }).find("--top-p") != std::string::npos);
}

TEST_CASE("lm bad config.json and weights: InputError naming the file and the field") {
  auto dir = test::scratch("lm-bad");
  auto write = [&](const std::string& sub, nlohmann::json cfg) {
    fs::create_directories(dir / sub);
    test::spit(dir / sub / "config.json", cfg.dump());
    fs::copy_file(test::data_file("lm/gpt2/model.safetensors"), dir / sub / "model.safetensors",
                  fs::copy_options::overwrite_existing);
    return dir / sub;
  };
  auto good = nlohmann::json::parse(test::slurp(test::data_file("lm/gpt2/config.json")));
  auto expect = [&](const fs::path& d, const std::string& field) {
    auto m = error_of([&] { load_causal_lm(d); });
    CAPTURE(m);
    CHECK(m.find("InputError") == 0);
    CHECK(m.find(d.filename().string()) != std::string::npos);
    CHECK(m.find(field) != std::string::npos);
  };
  auto j = good;
  j.erase("n_embd");
  expect(write("missing", j), "config.json: n_embd: missing");
  j = good;
  j["model_type"] = "bert";
  expect(write("type", j), "config.json: model_type: unsupported \"bert\"");
  j = good;
  j["activation_function"] = "relu";
  expect(write("act", j), "activation_function");
  j = good;
  j["n_head"] = "four";
  expect(write("head", j), "n_head: expected a whole number");
  auto lj = nlohmann::json::parse(test::slurp(test::data_file("lm/llama/config.json")));
  lj["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  auto m = error_of([&] { parse_lm_config(lj); });
  CHECK(m.find("InputError: config.json: rope_scaling.rope_type: unsupported \"yarn\"") == 0);
  lj = nlohmann::json::parse(test::slurp(test::data_file("lm/llama/config.json")));
  lj["attention_bias"] = true;
  CHECK(error_of([&] { parse_lm_config(lj); }).find("attention_bias") != std::string::npos);
  lj["attention_bias"] = false;
  lj["num_key_value_heads"] = 3;
  CHECK(error_of([&] { parse_lm_config(lj); }).find("num_key_value_heads") != std::string::npos);
  // The weights do not fit the config: wrong shape named with the file and the tensor.
  j = good;
  j["n_embd"] = 32;
  j["n_head"] = 4;
  expect(write("shape", j), "transformer.wte.weight: shape [64, 16], expected [64, 32]");
  j = good;
  j["n_layer"] = 3;
  expect(write("layers", j), "transformer.h.2.ln_1.weight: missing");
  j = good;
  j["n_layer"] = 1;
  expect(write("extra", j), "transformer.h.1.attn.c_attn.bias: not a tensor of this GPT-2 model");
}

TEST_CASE("lm training: gradients reach every parameter and match finite differences") {
  for (const auto& cfg : {tiny_gpt2(), tiny_llama()}) {
    CAPTURE(static_cast<int>(cfg.arch));
    auto model = random_model(cfg);
    model->to(torch::kDouble);
    auto [ids, mask] = left_pad(some_prompts(cfg.vocab_size), 0);
    auto loss_of = [&] {
      auto lp = sequence_logprobs(*model, ids, mask);  // float32 output: compare with a loose tolerance
      return -(lp * mask.narrow(1, 1, ids.size(1) - 1)).sum();
    };
    auto loss = loss_of();
    loss.backward();
    for (auto& item : model->named_parameters()) {
      CAPTURE(item.key());
      REQUIRE(item.value().grad().defined());
      CHECK(item.value().grad().abs().sum().item<double>() > 0);
    }
    // One weight of the first layer's attention, by central differences.
    torch::Tensor w = cfg.arch == Arch::gpt2 ? model->named_parameters()["transformer.h.0.attn.c_attn.weight"]
                                             : model->named_parameters()["model.layers.0.self_attn.k_proj.weight"];
    const double g = w.grad().view(-1)[5].item<double>(), eps = 1e-3;
    torch::NoGradGuard ng;
    w.view(-1)[5] += eps;
    const double up = loss_of().item<double>();
    w.view(-1)[5] -= 2 * eps;
    const double down = loss_of().item<double>();
    w.view(-1)[5] += eps;
    CHECK((up - down) / (2 * eps) == doctest::Approx(g).epsilon(2e-3));
  }
}

TEST_CASE("lm config: transformers 5's rope_parameters read as the 4.x rope_theta and rope_scaling, and kept on write") {
  nlohmann::json v4 = {{"model_type", "llama"}, {"vocab_size", 64}, {"hidden_size", 32}, {"intermediate_size", 64},
                       {"num_hidden_layers", 1}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                       {"max_position_embeddings", 64}, {"rope_theta", 500000.0},
                       {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                                         {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 32}}}};
  nlohmann::json v5 = v4;
  v5.erase("rope_theta");
  v5.erase("rope_scaling");
  v5["rope_parameters"] = v4["rope_scaling"];
  v5["rope_parameters"]["rope_theta"] = 500000.0;
  const LmConfig a = parse_lm_config(v4, "v4.json"), b = parse_lm_config(v5, "v5.json");
  CHECK(b.rope_theta == a.rope_theta);
  CHECK(b.rope_scaling.type == "llama3");
  CHECK(b.rope_scaling.factor == a.rope_scaling.factor);
  CHECK(b.rope_scaling.original_max_position_embeddings == 32);
  // the same weights give the same logits under either spelling
  CausalLM ma(a, Head::lm, 5), mb(b, Head::lm, 5);
  const torch::Tensor ids = torch::randint(0, 64, {2, 40}, torch::kInt64);
  CHECK(torch::equal(ma->forward(ids), mb->forward(ids)));
  // "default" means no scaling; the theta inside wins over a top-level one
  nlohmann::json d = v5;
  d["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1e6}};
  d["rope_theta"] = 10000.0;
  const LmConfig c = parse_lm_config(d, "d.json");
  CHECK(c.rope_scaling.type == "none");
  CHECK(c.rope_theta == 1e6);
  // written back in the file's own form
  const nlohmann::json w = to_hf_json(b);
  CHECK(w.contains("rope_parameters"));
  CHECK_FALSE(w.contains("rope_scaling"));
  CHECK(w["rope_parameters"]["rope_theta"] == 500000.0);
  CHECK(parse_lm_config(w, "w.json").rope_scaling.type == "llama3");
  nlohmann::json bad = v5;
  bad["rope_parameters"]["rope_type"] = "yarn";
  CHECK_THROWS_WITH_AS(parse_lm_config(bad, "bad.json"), doctest::Contains("rope_parameters.rope_type"), InputError);
}
