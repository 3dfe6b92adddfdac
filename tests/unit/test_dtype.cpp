// dtype sizes and float conversions against IEEE 754 / OCP FP8 reference values.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "paramkit/io/dtype.h"

using namespace paramkit;

TEST_CASE("dtype names and sizes") {
  CHECK(dtype_size(DType::BF16) == 2);
  CHECK(dtype_size(DType::F8_E4M3) == 1);
  CHECK(dtype_size(DType::U64) == 8);
  CHECK(all_dtypes().size() == 15);
  for (DType t : all_dtypes()) CHECK(parse_dtype(dtype_name(t)) == t);
  CHECK_FALSE(parse_dtype("F4").has_value());
  CHECK_FALSE(parse_dtype("f32").has_value());
}

TEST_CASE("f16 reference values") {
  CHECK(f32_to_f16(1.0f) == 0x3C00);
  CHECK(f32_to_f16(-2.0f) == 0xC000);
  CHECK(f32_to_f16(65504.0f) == 0x7BFF);
  CHECK(f32_to_f16(65519.0f) == 0x7BFF);   // below the rounding midpoint
  CHECK(f32_to_f16(65520.0f) == 0x7C00);   // at the midpoint: rounds to even = inf
  CHECK(f32_to_f16(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
  CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);  // tie to even (0)
  CHECK(f32_to_f16(std::ldexp(1.5f, -25)) == 0x0001);
  CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);  // tie to even
  CHECK(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);
  CHECK(f32_to_f16(std::numeric_limits<float>::infinity()) == 0x7C00);
  CHECK((f32_to_f16(std::nanf("")) & 0x7C00) == 0x7C00);
  CHECK(f16_to_f32(0x3555) == doctest::Approx(0.333251953125).epsilon(1e-12));
  CHECK(std::signbit(f16_to_f32(0x8000)));
  // Every non-NaN code survives decode -> encode.
  for (uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue;
    REQUIRE(f32_to_f16(f16_to_f32(static_cast<uint16_t>(h))) == h);
  }
}

TEST_CASE("bf16 reference values") {
  CHECK(f32_to_bf16(1.0f) == 0x3F80);
  CHECK(bf16_to_f32(0x4049) == 3.140625f);
  CHECK(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3F80);      // tie to even
  CHECK(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3F82);  // tie to even (up)
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
  for (uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7F80) == 0x7F80 && (h & 0x7F)) continue;
    REQUIRE(f32_to_bf16(bf16_to_f32(static_cast<uint16_t>(h))) == h);
  }
}

TEST_CASE("fp8 reference values (OCP FP8: E4M3 max 448, no inf, E5M2 IEEE-like)") {
  CHECK(f8e4m3_to_f32(0x7E) == 448.0f);
  CHECK(f8e4m3_to_f32(0x01) == std::ldexp(1.0f, -9));
  CHECK(f8e4m3_to_f32(0x38) == 1.0f);
  CHECK(std::isnan(f8e4m3_to_f32(0x7F)));
  CHECK(f32_to_f8e4m3(1000.0f) == 0x7E);  // saturates
  CHECK(f32_to_f8e4m3(-1000.0f) == 0xFE);
  CHECK(f8e5m2_to_f32(0x7B) == 57344.0f);
  CHECK(std::isinf(f8e5m2_to_f32(0x7C)));
  CHECK(f8e5m2_to_f32(0x01) == std::ldexp(1.0f, -16));
  CHECK(f8e5m2_to_f32(0x3C) == 1.0f);
  for (uint32_t v = 0; v < 256; ++v) {
    if ((v & 0x7F) != 0x7F) CHECK(f32_to_f8e4m3(f8e4m3_to_f32(static_cast<uint8_t>(v))) == v);
    if ((v & 0x7C) != 0x7C || (v & 0x03) == 0) CHECK(f32_to_f8e5m2(f8e5m2_to_f32(static_cast<uint8_t>(v))) == v);
  }
}

TEST_CASE("convert_dtype between families") {
  float f[4] = {1.5f, -2.7f, 300.0f, 0.0f};
  int8_t i8[4];
  convert_dtype(f, DType::F32, i8, DType::I8, 4);
  CHECK(i8[0] == 1);
  CHECK(i8[1] == -2);
  CHECK(i8[2] == 127);  // saturates
  uint8_t b[4];
  convert_dtype(f, DType::F32, b, DType::BOOL, 4);
  CHECK(b[0] == 1);
  CHECK(b[3] == 0);
  double d[4];
  convert_dtype(f, DType::F32, d, DType::F64, 4);
  CHECK(d[1] == static_cast<double>(-2.7f));
  int64_t big = (int64_t(1) << 53) + 1;
  int64_t back;
  convert_dtype(&big, DType::I64, &back, DType::I64, 1);
  CHECK(back == big);  // same dtype: bytes copied, no rounding through double
}

TEST_CASE("shape_numel overflow") {
  CHECK(shape_numel({}) == 1);
  CHECK(shape_numel({2, 0, 5}) == 0);
  CHECK_THROWS_AS(shape_numel({int64_t(1) << 40, int64_t(1) << 40}), std::overflow_error);
  CHECK_THROWS_AS(shape_numel({-1}), std::overflow_error);
}
