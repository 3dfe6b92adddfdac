// The YAML subset: a mergekit config parses to the JSON it means; unsupported or malformed YAML is an
// InputError with the line number.
#include <doctest/doctest.h>

#include "paramkit/core/error.h"
#include "paramkit/io/yaml_lite.h"

using namespace paramkit;

TEST_CASE("a mergekit TIES config") {
  const char* text = R"(# mergekit example
models:
  - model: psmathur/orca_mini_v3_13b
    parameters:
      density: [1, 0.7, 0.1] # density gradient
      weight: 1.0
  - model: "garage-bAInd/Platypus2-13B"
    parameters:
      density: 0.5
      weight: 0.3
  - model: TheBloke/Llama-2-13B-fp16
merge_method: ties
base_model: TheBloke/Llama-2-13B-fp16
parameters:
  normalize: true
  int8_mask: false
  note: 'a # inside quotes'
dtype: float16
)";
  nlohmann::json j = parse_yaml_lite(text, "c.yaml");
  nlohmann::json want = nlohmann::json::parse(R"({
    "models": [
      {"model": "psmathur/orca_mini_v3_13b", "parameters": {"density": [1, 0.7, 0.1], "weight": 1.0}},
      {"model": "garage-bAInd/Platypus2-13B", "parameters": {"density": 0.5, "weight": 0.3}},
      {"model": "TheBloke/Llama-2-13B-fp16"}],
    "merge_method": "ties", "base_model": "TheBloke/Llama-2-13B-fp16",
    "parameters": {"normalize": true, "int8_mask": false, "note": "a # inside quotes"},
    "dtype": "float16"})");
  CHECK(j == want);
}

TEST_CASE("lists at their key's indentation, scalars, nulls") {
  nlohmann::json j = parse_yaml_lite("a:\n- 1\n- x\nb: ~\nc:\nd: -2.5e-1\n", "t.yaml");
  CHECK(j["a"] == nlohmann::json::parse(R"([1, "x"])"));
  CHECK(j["b"].is_null());
  CHECK(j["c"].is_null());
  CHECK(j["d"] == -0.25);
}

TEST_CASE("flow mappings and lists on one line, nested, as values and as list items") {
  nlohmann::json j = parse_yaml_lite(
      "models:\n  - {model: \"a b\", parameters: {weight: 0.5, density: [1, 0.5]}}\n  - model: c\n"
      "    parameters: {weight: 1}\nempty: {}\nnone: []\n",
      "t.yaml");
  CHECK(j == nlohmann::json::parse(R"({"models": [{"model": "a b", "parameters": {"weight": 0.5, "density": [1, 0.5]}},
                                                  {"model": "c", "parameters": {"weight": 1}}],
                                       "empty": {}, "none": []})"));
}

TEST_CASE("errors carry the line") {
  CHECK_THROWS_WITH_AS(parse_yaml_lite("a: 1\n\tb: 2\n", "t.yaml"), doctest::Contains("t.yaml: line 2: tabs"), InputError);
  CHECK_THROWS_WITH_AS(parse_yaml_lite("a: {b: 1\n", "t.yaml"), doctest::Contains("line 1: a flow list or mapping must close"), InputError);
  CHECK_THROWS_WITH_AS(parse_yaml_lite("a: {b: 1, b: 2}\n", "t.yaml"), doctest::Contains("duplicate key 'b'"), InputError);
  CHECK_THROWS_WITH_AS(parse_yaml_lite("a: {b 1}\n", "t.yaml"), doctest::Contains("expected 'key: value'"), InputError);
  CHECK_THROWS_WITH_AS(parse_yaml_lite("a: [1, , 2]\n", "t.yaml"), doctest::Contains("empty item"), InputError);
  CHECK_THROWS_WITH_AS(parse_yaml_lite("a: [1] x\n", "t.yaml"), doctest::Contains("unexpected text"), InputError);
  CHECK_THROWS_WITH_AS(parse_yaml_lite("a: 1\n    b: 2\n", "t.yaml"), doctest::Contains("line 2: unexpected indentation"), InputError);
  CHECK_THROWS_WITH_AS(parse_yaml_lite("a: 1\na: 2\n", "t.yaml"), doctest::Contains("duplicate key 'a'"), InputError);
  CHECK_THROWS_WITH_AS(parse_yaml_lite("a: [1, 2\n", "t.yaml"), doctest::Contains("flow list"), InputError);
  CHECK_THROWS_WITH_AS(parse_yaml_lite("just text\n", "t.yaml"), doctest::Contains("expected 'key: value'"), InputError);
  CHECK_THROWS_AS(parse_yaml_lite("a: &anchor 1\n", "t.yaml"), InputError);
}

// Found by fuzzing and review (tests/fuzz/corpus/yaml/regress-*): non-finite numbers stay strings, NUL
// bytes are kept, apostrophes inside plain text do not open quotes, nesting is bounded.
TEST_CASE("YAML subset: numbers, NUL bytes, apostrophes and nesting depth (fuzzing regressions)") {
  auto j = parse_yaml_lite("a: nan\nb: inf\nc: 1e999\nd: 99999999999999999999\ne: 0x1p3\nf: .5\ng: -3\nh: +1\ni: 1.\n", "t.yaml");
  CHECK(j["a"] == "nan"); CHECK(j["b"] == "inf"); CHECK(j["c"] == "1e999"); CHECK(j["d"] == 1e20);
  CHECK(j["e"] == "0x1p3"); CHECK(j["f"] == 0.5); CHECK(j["g"] == -3); CHECK(j["h"] == 1); CHECK(j["i"] == 1.0);
  CHECK(j["g"].is_number_integer());
  auto k = parse_yaml_lite(std::string("a: 1\0x\n", 7), "t.yaml");
  CHECK(k["a"] == std::string("1\0x", 3));
  auto m = parse_yaml_lite("base_model: Qwen's-model # note\nit's: x\nq: 'a # b'\nr: [\"x, y\", 'z']\n", "t.yaml");
  CHECK(m["base_model"] == "Qwen's-model"); CHECK(m["it's"] == "x"); CHECK(m["q"] == "a # b");
  CHECK(m["r"] == nlohmann::json::parse(R"(["x, y", "z"])"));
  CHECK_THROWS_WITH_AS(parse_yaml_lite("a: " + std::string(100000, '[') + "\n", "t.yaml"), doctest::Contains("t.yaml: line 1: nesting deeper than 64 levels"), InputError);
  std::string deep; for (int i = 0; i < 2000; ++i) deep += std::string(i, ' ') + "k:\n";
  CHECK_THROWS_WITH_AS(parse_yaml_lite(deep, "t.yaml"), doctest::Contains("line 65: nesting deeper"), InputError);
  std::string ok; for (int i = 0; i < 60; ++i) ok += std::string(i, ' ') + "k:\n";
  CHECK_NOTHROW(parse_yaml_lite(ok, "t.yaml"));
  CHECK_NOTHROW(parse_yaml_lite("a: " + std::string(60, '[') + std::string(60, ']') + "\n", "t.yaml"));
}
