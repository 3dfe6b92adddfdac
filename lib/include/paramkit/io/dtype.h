// Tensor element types as safetensors names them, with byte sizes and the float conversions
// (F16/BF16/F8 <-> F32) done in plain C++ so readers need no LibTorch.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace paramkit {

enum class DType { BOOL, U8, I8, U16, I16, U32, I32, U64, I64, F8_E4M3, F8_E5M2, F16, BF16, F32, F64 };

std::string_view dtype_name(DType t);
std::optional<DType> parse_dtype(std::string_view name);
size_t dtype_size(DType t);
bool dtype_is_float(DType t);
const std::vector<DType>& all_dtypes();

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even, inf/nan kept
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);  // round to nearest even, nan kept quiet
float f8e4m3_to_f32(uint8_t v);
float f8e5m2_to_f32(uint8_t v);
uint8_t f32_to_f8e4m3(float f);  // saturating, round to nearest even
uint8_t f32_to_f8e5m2(float f);

// Element-wise conversion of n values between any two dtypes (through double for ints/floats;
// integer targets truncate toward zero like a C cast; BOOL is value != 0).
void convert_dtype(const void* src, DType from, void* dst, DType to, size_t n);

// numel with overflow checks (throws std::overflow_error on overflow or negative dims).
uint64_t shape_numel(const std::vector<int64_t>& shape);

std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace paramkit
