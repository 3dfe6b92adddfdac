#include "paramkit/rlhf/stages.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/nn/optim.h"
#include "paramkit/torch/checkpoint.h"
#include "paramkit/torch/state_dict.h"

namespace paramkit::rlhf {

namespace fs = std::filesystem;

namespace {
// A private folder beside an output, removed with everything in it.
class TempDir {
 public:
  TempDir(const fs::path& parent, const std::string& tag) {
    fs::create_directories(parent);
    std::string tmpl = (parent / (tag + "-XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) throw Error("cannot make a temporary folder in " + parent.string());
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};
}  // namespace

void ModelSource::validate() const {
  if (model.empty() == model_config.empty())
    throw UsageError(model.empty() ? "give --model DIR (a Hugging Face folder) or --model-config config.json (a new model)"
                                   : "--model and --model-config exclude each other");
  if (!model_config.empty() && tokenizer.empty())
    throw UsageError("--model-config: a new model needs --tokenizer (tokenizer.json, a folder, or bytes)");
}

std::shared_ptr<const text::Tokenizer> folder_tokenizer(const fs::path& dir, std::string* spec) {
  if (fs::exists(dir / "tokenizer.json") || fs::exists(dir / "vocab.json") || fs::exists(dir / "encoder.json")) {
    if (spec) *spec = dir.string();
    return text::load_tokenizer(dir.string());
  }
  const fs::path cfg = dir / "tokenizer_config.json";
  if (fs::exists(cfg)) {
    const nlohmann::json j = read_json(cfg);
    if (j.is_object() && j.value("tokenizer_class", "") == "paramkit-bytes") {
      if (spec) *spec = "bytes";
      return text::byte_tokenizer();
    }
  }
  throw UsageError(dir.string() + ": no tokenizer.json, GPT-2 vocab.json/merges.txt or paramkit tokenizer_config.json: give --tokenizer");
}

LoadedModel load_model(const ModelSource& s, lm::Head head, c10::Device device, uint64_t seed) {
  s.validate();
  const c10::ScalarType dtype = s.dtype ? to_torch_dtype(*s.dtype) : torch::kFloat32;
  LoadedModel m;
  if (!s.model.empty()) {
    lm::LoadOptions lo;
    lo.head = head;
    lo.device = device;
    lo.init_missing_score = head == lm::Head::score;
    lo.seed = seed;
    lo.dtype = dtype;
    m.model = lm::load_causal_lm(s.model, lo);
    m.folder = s.model;
  } else {
    const lm::LmConfig cfg = lm::read_lm_config(s.model_config);
    m.model = lm::CausalLM(cfg, head, seed);
    m.model->to(device, dtype);
  }
  if (!s.tokenizer.empty()) {
    m.tokenizer = text::load_tokenizer(s.tokenizer);
    m.tokenizer_spec = s.tokenizer;
  } else {
    m.tokenizer = folder_tokenizer(m.folder, &m.tokenizer_spec);
  }
  const int64_t vocab = m.model->config().vocab_size;
  if (m.tokenizer->vocab_size() > vocab)
    throw InputError(s.model.empty() ? s.model_config : s.model, "vocab_size",
                     fmt::format("the model has {} token ids but the tokenizer ({}) uses {}", vocab, m.tokenizer->describe(), m.tokenizer->vocab_size()));
  return m;
}

void save_model(lm::CausalLMImpl& model, const LoadedModel& from, const fs::path& dir) {
  lm::SaveLmOptions o;
  // The tokenizer travels with the model: the source folder's side files, a tokenizer file given with
  // --tokenizer, or the byte tokenizer's marker. Staged in a temporary folder beside the output.
  std::optional<TempDir> staged;
  const bool from_folder = !from.folder.empty() && from.tokenizer_spec == from.folder.string();
  if (from_folder) {
    o.side_files_from = from.folder;
  } else {
    staged.emplace(dir.parent_path().empty() ? fs::path(".") : dir.parent_path(), ".tokenizer");
    if (from.tokenizer_spec == "bytes" || from.tokenizer_spec == "byte") {
      write_json(staged->path() / "tokenizer_config.json", {{"tokenizer_class", "paramkit-bytes"}});
    } else {
      const fs::path t = from.tokenizer_spec;
      if (fs::is_directory(t)) {
        for (const char* f : {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "encoder.json", "vocab.bpe"})
          if (fs::exists(t / f)) fs::copy_file(t / f, staged->path() / f);
      } else {
        fs::copy_file(t, staged->path() / "tokenizer.json");
      }
    }
    o.side_files_from = staged->path();
  }
  lm::save_causal_lm(model, dir, o);
}

TokenSequence sft_sequence(const text::Tokenizer& tok, const std::string& prompt, const std::string& response, int64_t max_length) {
  std::vector<int64_t> p = tok.encode(prompt, true);
  std::vector<int64_t> r = tok.encode(response, false);
  if (tok.eos_id()) r.push_back(*tok.eos_id());
  const int64_t total = static_cast<int64_t>(p.size() + r.size());
  if (total > max_length) {
    const int64_t cut_p = std::min<int64_t>(static_cast<int64_t>(p.size()) - 1, total - max_length);  // keep >= 1 prompt token
    p.erase(p.begin(), p.begin() + std::max<int64_t>(cut_p, 0));
    const int64_t over = static_cast<int64_t>(p.size() + r.size()) - max_length;
    if (over > 0) r.resize(r.size() - static_cast<size_t>(over));
  }
  TokenSequence s;
  s.ids = p;
  s.ids.insert(s.ids.end(), r.begin(), r.end());
  s.labels.assign(p.size(), -1);
  s.labels.insert(s.labels.end(), r.begin(), r.end());
  return s;
}

namespace {
// Right-padded batch: ids (pad 0), mask, labels (-1 on padding).
struct Batch {
  torch::Tensor ids, mask, labels;
};
Batch make_batch(const std::vector<const TokenSequence*>& seqs, c10::Device dev) {
  size_t T = 0;
  for (const auto* s : seqs) T = std::max(T, s->ids.size());
  const int64_t B = static_cast<int64_t>(seqs.size());
  Batch b;
  b.ids = torch::zeros({B, static_cast<int64_t>(T)}, torch::kInt64);
  b.mask = torch::zeros({B, static_cast<int64_t>(T)}, torch::kInt64);
  b.labels = torch::full({B, static_cast<int64_t>(T)}, -1, torch::kInt64);
  for (int64_t i = 0; i < B; ++i) {
    const auto& s = *seqs[static_cast<size_t>(i)];
    const int64_t n = static_cast<int64_t>(s.ids.size());
    b.ids[i].slice(0, 0, n).copy_(torch::tensor(s.ids, torch::kInt64));
    b.labels[i].slice(0, 0, n).copy_(torch::tensor(s.labels, torch::kInt64));
    b.mask[i].slice(0, 0, n).fill_(1);
  }
  b.ids = b.ids.to(dev);
  b.mask = b.mask.to(dev);
  b.labels = b.labels.to(dev);
  return b;
}

torch::Tensor next_token_loss(lm::CausalLMImpl& model, const Batch& b) {
  const torch::Tensor logits = model.forward(b.ids, b.mask);
  const int64_t V = logits.size(2);
  return torch::nn::functional::cross_entropy(
      logits.slice(1, 0, -1).reshape({-1, V}), b.labels.slice(1, 1).reshape(-1),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-1));
}

std::vector<TokenSequence> pack(const std::vector<TokenSequence>& seqs, int64_t max_length) {
  std::vector<TokenSequence> rows(1);
  for (const auto& s : seqs)
    for (size_t i = 0; i < s.ids.size(); ++i) {
      if (static_cast<int64_t>(rows.back().ids.size()) == max_length) rows.emplace_back();
      rows.back().ids.push_back(s.ids[i]);
      rows.back().labels.push_back(s.labels[i]);
    }
  return rows;
}

// The project's step loop (nn::train_steps) over `n` items, then the model in eval mode.
StageResult supervised_loop(lm::CausalLMImpl& model, int64_t n, const SftOptions& o, uint64_t seed, const char* what,
                            const nn::StepLoss& step_loss) {
  auto optimizer = nn::make_optimizer(o.train.optimizer, model.parameters());
  model.train();
  const nn::TrainResult t = nn::train_steps(model, *optimizer, n, o.train, seed, what, step_loss);
  model.eval();
  StageResult res;
  res.steps = t.steps;
  res.finished = t.finished;
  res.resumed = t.resumed;
  res.last_loss = t.last_loss;
  return res;
}
}  // namespace

StageResult train_sft(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<SftExample>& data, const SftOptions& o,
                      uint64_t seed) {
  std::vector<TokenSequence> seqs;
  seqs.reserve(data.size());
  int64_t tokens = 0;
  for (const auto& e : data) {
    seqs.push_back(sft_sequence(tok, e.prompt, e.response, o.max_length));
    tokens += static_cast<int64_t>(seqs.back().ids.size());
  }
  if (o.packing) seqs = pack(seqs, o.max_length);
  const c10::Device dev = model.device();
  StageResult r = supervised_loop(model, static_cast<int64_t>(seqs.size()), o, seed, "sft", [&](const std::vector<int64_t>& rows, const TrainPosition&) {
    std::vector<const TokenSequence*> b;
    for (int64_t i : rows) b.push_back(&seqs[static_cast<size_t>(i)]);
    torch::Tensor loss = next_token_loss(model, make_batch(b, dev));
    loss.backward();
    return loss.item<double>();
  });
  r.examples = static_cast<int64_t>(data.size());
  r.tokens = tokens;
  return r;
}

double sft_eval_loss(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<SftExample>& data, int64_t max_length,
                     int64_t batch_size) {
  std::vector<TokenSequence> seqs;
  for (const auto& e : data) seqs.push_back(sft_sequence(tok, e.prompt, e.response, max_length));
  torch::NoGradGuard no_grad;
  double sum = 0, count = 0;
  for (size_t i = 0; i < seqs.size(); i += static_cast<size_t>(batch_size)) {
    check_stop();
    std::vector<const TokenSequence*> b;
    for (size_t k = i; k < std::min(seqs.size(), i + static_cast<size_t>(batch_size)); ++k) b.push_back(&seqs[k]);
    const Batch batch = make_batch(b, model.device());
    const double n = (batch.labels.slice(1, 1) >= 0).sum().item<double>();
    sum += next_token_loss(model, batch).item<double>() * n;
    count += n;
  }
  return count > 0 ? sum / count : NAN;
}

StageResult train_rm(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<PreferenceExample>& data,
                     const SftOptions& o, uint64_t seed) {
  if (model.head() != lm::Head::score) throw UsageError("rm: the model needs a score head");
  std::vector<TokenSequence> chosen, rejected;
  for (const auto& e : data) {
    chosen.push_back(sft_sequence(tok, e.prompt, e.chosen, o.max_length));
    rejected.push_back(sft_sequence(tok, e.prompt, e.rejected, o.max_length));
  }
  const c10::Device dev = model.device();
  // pairs ranked right in the last epoch's batches (a new epoch starts the count again)
  double correct = 0, seen = 0;
  StageResult r = supervised_loop(model, static_cast<int64_t>(data.size()), o, seed, "rm", [&](const std::vector<int64_t>& rows, const TrainPosition& pos) {
    if (pos.batch == 0) correct = seen = 0;
    std::vector<const TokenSequence*> b;
    for (int64_t i : rows) b.push_back(&chosen[static_cast<size_t>(i)]);
    for (int64_t i : rows) b.push_back(&rejected[static_cast<size_t>(i)]);
    const Batch batch = make_batch(b, dev);
    const torch::Tensor scores = lm::last_token_values(model.forward(batch.ids, batch.mask), batch.mask);
    const int64_t n = static_cast<int64_t>(rows.size());
    const torch::Tensor margin = scores.slice(0, 0, n) - scores.slice(0, n);
    torch::Tensor loss = -torch::nn::functional::logsigmoid(margin).mean();
    loss.backward();
    correct += (margin > 0).sum().item<double>();
    seen += static_cast<double>(n);
    return loss.item<double>();
  });
  r.accuracy = seen > 0 ? correct / seen : NAN;
  r.examples = static_cast<int64_t>(data.size());
  return r;
}

std::vector<double> score_texts(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<std::string>& prompts,
                                const std::vector<std::string>& responses, int64_t batch_size, int64_t max_length) {
  const c10::Device dev = model.device();
  return score_texts([&](const torch::Tensor& ids, const torch::Tensor& mask) { return model.forward(ids.to(dev), mask.to(dev)); }, tok, prompts,
                     responses, batch_size, max_length);
}

std::vector<double> score_texts(const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& values,
                                const text::Tokenizer& tok, const std::vector<std::string>& prompts,
                                const std::vector<std::string>& responses, int64_t batch_size, int64_t max_length) {
  torch::NoGradGuard no_grad;
  std::vector<double> out;
  out.reserve(prompts.size());
  for (size_t i = 0; i < prompts.size(); i += static_cast<size_t>(batch_size)) {
    check_stop();
    std::vector<TokenSequence> seqs;
    for (size_t k = i; k < std::min(prompts.size(), i + static_cast<size_t>(batch_size)); ++k)
      seqs.push_back(sft_sequence(tok, prompts[k], responses[k], max_length));
    std::vector<const TokenSequence*> b;
    for (const auto& s : seqs) b.push_back(&s);
    const Batch batch = make_batch(b, torch::kCPU);
    const torch::Tensor vals = values(batch.ids, batch.mask);
    const torch::Tensor v = lm::last_token_values(vals, batch.mask.to(vals.device())).to(torch::kCPU, torch::kFloat64);
    for (int64_t k = 0; k < v.size(0); ++k) {
      const double x = v[k].item<double>();
      if (!std::isfinite(x)) throw Error("the reward model gave a non-finite score");
      out.push_back(x);
    }
  }
  return out;
}

double preference_accuracy(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<PreferenceExample>& data,
                           int64_t max_length, int64_t batch_size) {
  std::vector<std::string> prompts, chosen, rejected;
  for (const auto& e : data) {
    prompts.push_back(e.prompt);
    chosen.push_back(e.chosen);
    rejected.push_back(e.rejected);
  }
  const auto a = score_texts(model, tok, prompts, chosen, batch_size, max_length);
  const auto b = score_texts(model, tok, prompts, rejected, batch_size, max_length);
  double right = 0;
  for (size_t i = 0; i < a.size(); ++i) right += a[i] > b[i] ? 1 : 0;
  return a.empty() ? NAN : right / static_cast<double>(a.size());
}

}  // namespace paramkit::rlhf
