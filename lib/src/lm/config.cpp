// config.json of GPT-2 and Llama models <-> LmConfig, refusing what the model code does not implement.
#include <fstream>
#include <nlohmann/json.hpp>

#include "paramkit/core/error.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/lm/model.h"

namespace paramkit::lm {
namespace {

using json = nlohmann::json;

bool present(const json& j, const char* f) { return j.contains(f) && !j.at(f).is_null(); }

int64_t get_int(const json& j, const char* f, const std::string& src, std::optional<int64_t> def, int64_t min = 1) {
  if (!present(j, f)) {
    if (def) return *def;
    throw InputError(src, f, "missing (a whole number is expected)");
  }
  const json& v = j.at(f);
  if (!v.is_number_integer()) throw InputError(src, f, "expected a whole number, got " + v.dump());
  int64_t x = v.get<int64_t>();
  if (x < min) throw InputError(src, f, "expected a whole number >= " + std::to_string(min) + ", got " + v.dump());
  return x;
}

double get_num(const json& j, const char* f, const std::string& src, double def, bool positive = true) {
  if (!present(j, f)) return def;
  const json& v = j.at(f);
  if (!v.is_number()) throw InputError(src, f, "expected a number, got " + v.dump());
  double x = v.get<double>();
  if (positive && !(x > 0)) throw InputError(src, f, "expected a positive number, got " + v.dump());
  return x;
}

bool get_bool(const json& j, const char* f, const std::string& src, bool def) {
  if (!present(j, f)) return def;
  if (!j.at(f).is_boolean()) throw InputError(src, f, "expected true or false, got " + j.at(f).dump());
  return j.at(f).get<bool>();
}

std::string get_str(const json& j, const char* f, const std::string& src, const std::string& def) {
  if (!present(j, f)) return def;
  if (!j.at(f).is_string()) throw InputError(src, f, "expected a string, got " + j.at(f).dump());
  return j.at(f).get<std::string>();
}

std::optional<int64_t> get_token(const json& j, const char* f, const std::string& src) {
  if (!present(j, f)) return std::nullopt;
  return get_int(j, f, src, std::nullopt, 0);
}

// key: "rope_scaling" (transformers 4.x) or "rope_parameters" (transformers 5: the scaling fields and
// rope_theta in one object, rope_type "default" for none).
RopeScaling parse_rope(const json& j, const std::string& src, const std::string& key = "rope_scaling") {
  RopeScaling r;
  if (!present(j, key.c_str())) return r;
  const json& s = j.at(key);
  if (!s.is_object()) throw InputError(src, key, "expected null or an object, got " + s.dump());
  std::string type = get_str(s, "rope_type", src, get_str(s, "type", src, ""));
  if (type == "default" || (key == "rope_parameters" && type.empty())) return r;
  const std::string f = key + ".";
  auto num = [&](const char* k, std::optional<double> def) {
    if (!present(s, k)) {
      if (def) return *def;
      throw InputError(src, f + k, "missing (a number is expected)");
    }
    if (!s.at(k).is_number() || !(s.at(k).get<double>() > 0))
      throw InputError(src, f + k, "expected a positive number, got " + s.at(k).dump());
    return s.at(k).get<double>();
  };
  if (type == "linear") {
    r.type = "linear";
    r.factor = num("factor", std::nullopt);
  } else if (type == "llama3") {
    r.type = "llama3";
    r.factor = num("factor", std::nullopt);
    r.low_freq_factor = num("low_freq_factor", std::nullopt);
    r.high_freq_factor = num("high_freq_factor", std::nullopt);
    if (!(r.high_freq_factor > r.low_freq_factor))
      throw InputError(src, f + "high_freq_factor", "must be larger than low_freq_factor");
    if (!present(s, "original_max_position_embeddings"))
      throw InputError(src, f + "original_max_position_embeddings", "missing (a whole number is expected)");
    r.original_max_position_embeddings = get_int(s, "original_max_position_embeddings", src, std::nullopt);
  } else {
    throw InputError(src, f + "rope_type",
                     "unsupported \"" + type + "\" (supported: null, \"default\", \"linear\", \"llama3\")");
  }
  return r;
}

}  // namespace

LmConfig LmConfig::gpt2(int64_t vocab, int64_t hidden, int64_t layers, int64_t heads, int64_t max_positions) {
  LmConfig c;
  c.arch = Arch::gpt2;
  c.vocab_size = vocab;
  c.hidden_size = hidden;
  c.intermediate_size = 4 * hidden;
  c.num_layers = layers;
  c.num_heads = c.num_kv_heads = heads;
  c.head_dim = heads > 0 ? hidden / heads : 0;
  c.max_positions = max_positions;
  c.norm_eps = 1e-5;
  c.tie_word_embeddings = true;
  return c;
}

LmConfig LmConfig::llama(int64_t vocab, int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads,
                         int64_t kv_heads, int64_t max_positions) {
  LmConfig c;
  c.arch = Arch::llama;
  c.vocab_size = vocab;
  c.hidden_size = hidden;
  c.intermediate_size = intermediate;
  c.num_layers = layers;
  c.num_heads = heads;
  c.num_kv_heads = kv_heads;
  c.head_dim = heads > 0 ? hidden / heads : 0;
  c.max_positions = max_positions;
  c.norm_eps = 1e-6;
  c.tie_word_embeddings = false;
  return c;
}

void LmConfig::validate(const std::string& source) const {
  auto fail = [&](const std::string& field, const std::string& what) {
    if (source.empty()) throw UsageError("model config: " + field + ": " + what);
    throw InputError(source, field, what);
  };
  const bool g = arch == Arch::gpt2;
  auto pos = [&](int64_t v, const char* gf, const char* lf) {
    if (v < 1) fail(g ? gf : lf, "must be at least 1, got " + std::to_string(v));
  };
  pos(vocab_size, "vocab_size", "vocab_size");
  pos(hidden_size, "n_embd", "hidden_size");
  pos(intermediate_size, "n_inner", "intermediate_size");
  pos(num_layers, "n_layer", "num_hidden_layers");
  pos(num_heads, "n_head", "num_attention_heads");
  pos(num_kv_heads, "n_head", "num_key_value_heads");
  pos(head_dim, "n_head", "head_dim");
  pos(max_positions, "n_positions", "max_position_embeddings");
  if (g && hidden_size % num_heads != 0)
    fail("n_embd", std::to_string(hidden_size) + " is not a multiple of n_head " + std::to_string(num_heads));
  if (g && (num_kv_heads != num_heads || head_dim * num_heads != hidden_size))
    fail("n_head", "GPT-2 has as many key/value heads as heads and head_dim = n_embd / n_head");
  if (num_heads % num_kv_heads != 0)
    fail("num_key_value_heads", std::to_string(num_kv_heads) + " does not divide num_attention_heads " +
                                    std::to_string(num_heads));
  if (!g && head_dim % 2 != 0) fail("head_dim", "must be even for rotary embeddings, got " + std::to_string(head_dim));
  if (!(norm_eps > 0)) fail(g ? "layer_norm_epsilon" : "rms_norm_eps", "must be positive");
  if (!(rope_theta > 0)) fail("rope_theta", "must be positive");
  for (int64_t e : eos_token_ids)
    if (e < 0 || e >= vocab_size) fail("eos_token_id", std::to_string(e) + " is outside the vocabulary");
  if (bos_token_id && (*bos_token_id < 0 || *bos_token_id >= vocab_size))
    fail("bos_token_id", std::to_string(*bos_token_id) + " is outside the vocabulary");
  if (pad_token_id && (*pad_token_id < 0 || *pad_token_id >= vocab_size))
    fail("pad_token_id", std::to_string(*pad_token_id) + " is outside the vocabulary");
}

LmConfig parse_lm_config(const json& j, const std::string& src) {
  if (!j.is_object()) throw InputError(src, "", "expected a JSON object");
  if (!present(j, "model_type")) throw InputError(src, "model_type", "missing (\"gpt2\" or \"llama\" is expected)");
  const std::string type = get_str(j, "model_type", src, "");
  LmConfig c;
  c.raw = j;
  c.vocab_size = get_int(j, "vocab_size", src, std::nullopt);
  c.initializer_range = get_num(j, "initializer_range", src, 0.02);
  if (type == "gpt2") {
    c.arch = Arch::gpt2;
    c.hidden_size = get_int(j, "n_embd", src, std::nullopt);
    c.num_layers = get_int(j, "n_layer", src, std::nullopt);
    c.num_heads = c.num_kv_heads = get_int(j, "n_head", src, std::nullopt);
    c.max_positions = get_int(j, "n_positions", src, std::nullopt);
    c.intermediate_size = get_int(j, "n_inner", src, 4 * c.hidden_size);
    c.head_dim = c.hidden_size / c.num_heads;
    c.norm_eps = get_num(j, "layer_norm_epsilon", src, 1e-5);
    std::string act = get_str(j, "activation_function", src, "gelu_new");
    if (act != "gelu_new" && act != "gelu_pytorch_tanh")
      throw InputError(src, "activation_function", "unsupported \"" + act + "\" (supported: \"gelu_new\")");
    c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", src, true);
    if (!get_bool(j, "scale_attn_weights", src, true))
      throw InputError(src, "scale_attn_weights", "unsupported false (attention is scaled by 1/sqrt(head_dim))");
    if (get_bool(j, "scale_attn_by_inverse_layer_idx", src, false))
      throw InputError(src, "scale_attn_by_inverse_layer_idx", "unsupported true");
    if (get_bool(j, "add_cross_attention", src, false))
      throw InputError(src, "add_cross_attention", "unsupported true");
  } else if (type == "llama") {
    c.arch = Arch::llama;
    c.hidden_size = get_int(j, "hidden_size", src, std::nullopt);
    c.intermediate_size = get_int(j, "intermediate_size", src, std::nullopt);
    c.num_layers = get_int(j, "num_hidden_layers", src, std::nullopt);
    c.num_heads = get_int(j, "num_attention_heads", src, std::nullopt);
    c.num_kv_heads = get_int(j, "num_key_value_heads", src, c.num_heads);
    if (c.hidden_size % c.num_heads != 0 && !present(j, "head_dim"))
      throw InputError(src, "hidden_size", "not a multiple of num_attention_heads and no head_dim given");
    c.head_dim = get_int(j, "head_dim", src, c.hidden_size / c.num_heads);
    c.max_positions = get_int(j, "max_position_embeddings", src, 2048);
    c.norm_eps = get_num(j, "rms_norm_eps", src, 1e-6);
    c.rope_theta = get_num(j, "rope_theta", src, 10000.0);
    if (present(j, "rope_parameters")) {  // transformers 5 writes theta and scaling here
      const json& rp = j.at("rope_parameters");
      if (!rp.is_object()) throw InputError(src, "rope_parameters", "expected an object, got " + rp.dump());
      c.rope_theta = get_num(rp, "rope_theta", src, c.rope_theta);
      c.rope_scaling = parse_rope(j, src, "rope_parameters");
      if (present(j, "rope_scaling") && parse_rope(j, src).type != c.rope_scaling.type)
        throw InputError(src, "rope_scaling", "disagrees with rope_parameters");
    } else {
      c.rope_scaling = parse_rope(j, src);
    }
    c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", src, false);
    std::string act = get_str(j, "hidden_act", src, "silu");
    if (act != "silu") throw InputError(src, "hidden_act", "unsupported \"" + act + "\" (supported: \"silu\")");
    if (get_bool(j, "attention_bias", src, false)) throw InputError(src, "attention_bias", "unsupported true");
    if (get_bool(j, "mlp_bias", src, false)) throw InputError(src, "mlp_bias", "unsupported true");
  } else {
    throw InputError(src, "model_type", "unsupported \"" + type + "\" (supported: \"gpt2\", \"llama\")");
  }
  c.bos_token_id = get_token(j, "bos_token_id", src);
  c.pad_token_id = get_token(j, "pad_token_id", src);
  if (present(j, "eos_token_id")) {
    const json& e = j.at("eos_token_id");
    if (e.is_array()) {
      for (const auto& x : e) {
        if (!x.is_number_integer() || x.get<int64_t>() < 0)
          throw InputError(src, "eos_token_id", "expected token ids, got " + e.dump());
        c.eos_token_ids.push_back(x.get<int64_t>());
      }
    } else {
      c.eos_token_ids.push_back(get_int(j, "eos_token_id", src, std::nullopt, 0));
    }
  }
  c.validate(src);
  return c;
}

LmConfig read_lm_config(const std::filesystem::path& path) {
  const std::string text = read_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw InputError(path.string(), "", std::string("not valid JSON: ") + e.what());
  }
  return parse_lm_config(j, path.string());
}

json to_hf_json(const LmConfig& c, Head head) {
  json j = c.raw.is_object() ? c.raw : json::object();
  const bool g = c.arch == Arch::gpt2;
  if (g) {
    j["model_type"] = "gpt2";
    j["architectures"] = {head == Head::lm ? "GPT2LMHeadModel" : "GPT2ForSequenceClassification"};
    j["vocab_size"] = c.vocab_size;
    j["n_embd"] = c.hidden_size;
    j["n_layer"] = c.num_layers;
    j["n_head"] = c.num_heads;
    j["n_positions"] = c.max_positions;
    if (c.intermediate_size == 4 * c.hidden_size) {
      if (!j.contains("n_inner")) j["n_inner"] = nullptr;
      else if (!j["n_inner"].is_null()) j["n_inner"] = c.intermediate_size;
    } else {
      j["n_inner"] = c.intermediate_size;
    }
    j["layer_norm_epsilon"] = c.norm_eps;
    if (!j.contains("activation_function")) j["activation_function"] = "gelu_new";
    if (!j.contains("n_ctx")) j["n_ctx"] = c.max_positions;
  } else {
    j["model_type"] = "llama";
    j["architectures"] = {head == Head::lm ? "LlamaForCausalLM" : "LlamaForSequenceClassification"};
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.hidden_size;
    j["intermediate_size"] = c.intermediate_size;
    j["num_hidden_layers"] = c.num_layers;
    j["num_attention_heads"] = c.num_heads;
    j["num_key_value_heads"] = c.num_kv_heads;
    j["head_dim"] = c.head_dim;
    j["max_position_embeddings"] = c.max_positions;
    j["rms_norm_eps"] = c.norm_eps;
    j["hidden_act"] = "silu";
    j["attention_bias"] = false;
    j["mlp_bias"] = false;
    if (c.raw.is_object() && present(c.raw, "rope_parameters")) {
      // a transformers-5 config keeps its own form (theta and scaling in rope_parameters)
      j["rope_parameters"] = c.raw.at("rope_parameters");
      j["rope_parameters"]["rope_theta"] = c.rope_theta;
    } else if (c.rope_scaling.type == "none") {
      j["rope_theta"] = c.rope_theta;
      j["rope_scaling"] = nullptr;
    } else if (c.raw.is_object() && present(c.raw, "rope_scaling")) {
      j["rope_theta"] = c.rope_theta;  // the file's own rope_scaling object is kept as it was
    } else {
      j["rope_theta"] = c.rope_theta;
      // Written here: the linear form older transformers validate (exactly type + factor), llama3 as 3.1 has it.
      if (c.rope_scaling.type == "linear")
        j["rope_scaling"] = {{"type", "linear"}, {"factor", c.rope_scaling.factor}};
      else
        j["rope_scaling"] = {{"rope_type", "llama3"},
                             {"factor", c.rope_scaling.factor},
                             {"low_freq_factor", c.rope_scaling.low_freq_factor},
                             {"high_freq_factor", c.rope_scaling.high_freq_factor},
                             {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}};
    }
  }
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["initializer_range"] = c.initializer_range;
  if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
  if (c.pad_token_id) j["pad_token_id"] = *c.pad_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  else if (!c.eos_token_ids.empty()) j["eos_token_id"] = c.eos_token_ids;
  if (head == Head::score) {
    j["id2label"] = {{"0", "LABEL_0"}};
    j["label2id"] = {{"LABEL_0", 0}};
    j["num_labels"] = 1;
  }
  return j;
}

}  // namespace paramkit::lm
