// Element types and bit-exact float conversions.
#include "paramkit/io/dtype.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "paramkit/io/small_float.h"

namespace paramkit {
namespace {
struct DTypeInfo {
  DType t;
  const char* name;
  size_t size;
  bool is_float;
};
const DTypeInfo kInfo[] = {
    {DType::BOOL, "BOOL", 1, false}, {DType::U8, "U8", 1, false},   {DType::I8, "I8", 1, false},
    {DType::U16, "U16", 2, false},   {DType::I16, "I16", 2, false}, {DType::U32, "U32", 4, false},
    {DType::I32, "I32", 4, false},   {DType::U64, "U64", 8, false}, {DType::I64, "I64", 8, false},
    {DType::F8_E4M3, "F8_E4M3", 1, true}, {DType::F8_E5M2, "F8_E5M2", 1, true},
    {DType::F16, "F16", 2, true},    {DType::BF16, "BF16", 2, true}, {DType::F32, "F32", 4, true},
    {DType::F64, "F64", 8, true}};

// Generic round-to-nearest-even encoder into (e, m) format. max_code: largest finite magnitude code.
template <int e, int m, bool has_inf>
uint32_t encode_small(float f, uint32_t nan_code, uint32_t max_code, bool saturate) {
  uint32_t sign = std::signbit(f) ? 1u : 0u;
  uint32_t sbit = sign << (e + m);
  if (std::isnan(f)) return sbit | nan_code;
  float a = std::fabs(f);
  int bias = (1 << (e - 1)) - 1;
  float maxv = small_float::bits_to_f32(small_float::decode_bits<e, m, has_inf>(max_code));
  if (std::isinf(a) || a > maxv) {
    if (saturate || !has_inf) {
      // Values beyond max round to max unless they are past the rounding midpoint toward inf (ieee-like).
      if (has_inf && !saturate) return sbit | (((1u << e) - 1) << m);
      return sbit | max_code;
    }
    // IEEE-style: round; anything >= max + half ulp becomes inf.
    int exp_max = static_cast<int>((max_code >> m)) - bias;
    float half_ulp = std::ldexp(1.0f, exp_max - m - 1);
    if (std::isinf(a) || a >= maxv + half_ulp) return sbit | (((1u << e) - 1) << m);
    return sbit | max_code;
  }
  if (a == 0.0f) return sbit;
  int ex;
  std::frexp(a, &ex);  // a = f * 2^ex, f in [0.5,1)
  int unb = ex - 1;    // a = 1.x * 2^unb
  int emin = 1 - bias;
  int scale_exp = (unb < emin ? emin : unb) - m;  // value of one mantissa ulp
  double q = std::ldexp(static_cast<double>(a), -scale_exp);  // exact in double
  double fl = std::floor(q);
  double rem = q - fl;
  uint64_t n = static_cast<uint64_t>(fl);
  if (rem > 0.5 || (rem == 0.5 && (n & 1))) ++n;
  // n is mantissa with implicit bit (or subnormal mantissa); renormalise when it overflows.
  uint32_t code;
  if (unb < emin) {
    code = static_cast<uint32_t>(n);  // subnormal; n == 2^m becomes the smallest normal naturally
  } else {
    uint32_t exp_field = static_cast<uint32_t>(unb + bias);
    if (n >= (2ull << m)) {
      n >>= 1;
      ++exp_field;
    }
    code = (exp_field << m) | (static_cast<uint32_t>(n) & ((1u << m) - 1));
  }
  if (code > max_code) code = (has_inf && !saturate) ? (((1u << e) - 1) << m) : max_code;
  return sbit | code;
}

template <class T>
double load_as_double(const void* p, size_t i) {
  T v;
  std::memcpy(&v, static_cast<const char*>(p) + i * sizeof(T), sizeof(T));
  return static_cast<double>(v);
}
template <class T>
void store_from_double(void* p, size_t i, double d) {
  T v;
  if constexpr (std::is_integral_v<T>) {
    if (std::isnan(d)) v = 0;
    else if (d <= static_cast<double>(std::numeric_limits<T>::lowest())) v = std::numeric_limits<T>::lowest();
    else if (d >= static_cast<double>(std::numeric_limits<T>::max())) v = std::numeric_limits<T>::max();
    else v = static_cast<T>(d);
  } else {
    v = static_cast<T>(d);
  }
  std::memcpy(static_cast<char*>(p) + i * sizeof(T), &v, sizeof(T));
}

double get(const void* src, DType t, size_t i) {
  const uint8_t* b = static_cast<const uint8_t*>(src);
  switch (t) {
    case DType::BOOL: return b[i] != 0 ? 1.0 : 0.0;
    case DType::U8: return b[i];
    case DType::I8: return load_as_double<int8_t>(src, i);
    case DType::U16: return load_as_double<uint16_t>(src, i);
    case DType::I16: return load_as_double<int16_t>(src, i);
    case DType::U32: return load_as_double<uint32_t>(src, i);
    case DType::I32: return load_as_double<int32_t>(src, i);
    case DType::U64: return load_as_double<uint64_t>(src, i);
    case DType::I64: return load_as_double<int64_t>(src, i);
    case DType::F8_E4M3: return f8e4m3_to_f32(b[i]);
    case DType::F8_E5M2: return f8e5m2_to_f32(b[i]);
    case DType::F16: { uint16_t h; std::memcpy(&h, b + 2 * i, 2); return f16_to_f32(h); }
    case DType::BF16: { uint16_t h; std::memcpy(&h, b + 2 * i, 2); return bf16_to_f32(h); }
    case DType::F32: return load_as_double<float>(src, i);
    case DType::F64: return load_as_double<double>(src, i);
  }
  return 0;
}

void put(void* dst, DType t, size_t i, double d) {
  uint8_t* b = static_cast<uint8_t*>(dst);
  switch (t) {
    case DType::BOOL: b[i] = d != 0.0 ? 1 : 0; return;
    case DType::U8: store_from_double<uint8_t>(dst, i, d); return;
    case DType::I8: store_from_double<int8_t>(dst, i, d); return;
    case DType::U16: store_from_double<uint16_t>(dst, i, d); return;
    case DType::I16: store_from_double<int16_t>(dst, i, d); return;
    case DType::U32: store_from_double<uint32_t>(dst, i, d); return;
    case DType::I32: store_from_double<int32_t>(dst, i, d); return;
    case DType::U64: store_from_double<uint64_t>(dst, i, d); return;
    case DType::I64: store_from_double<int64_t>(dst, i, d); return;
    case DType::F8_E4M3: b[i] = f32_to_f8e4m3(static_cast<float>(d)); return;
    case DType::F8_E5M2: b[i] = f32_to_f8e5m2(static_cast<float>(d)); return;
    case DType::F16: { uint16_t h = f32_to_f16(static_cast<float>(d)); std::memcpy(b + 2 * i, &h, 2); return; }
    case DType::BF16: { uint16_t h = f32_to_bf16(static_cast<float>(d)); std::memcpy(b + 2 * i, &h, 2); return; }
    case DType::F32: store_from_double<float>(dst, i, d); return;
    case DType::F64: store_from_double<double>(dst, i, d); return;
  }
}
}  // namespace

std::string_view dtype_name(DType t) { return kInfo[static_cast<int>(t)].name; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& i : kInfo)
    if (name == i.name) return i.t;
  return std::nullopt;
}

size_t dtype_size(DType t) { return kInfo[static_cast<int>(t)].size; }
bool dtype_is_float(DType t) { return kInfo[static_cast<int>(t)].is_float; }

const std::vector<DType>& all_dtypes() {
  static const std::vector<DType> v = [] {
    std::vector<DType> r;
    for (const auto& i : kInfo) r.push_back(i.t);
    return r;
  }();
  return v;
}

float f16_to_f32(uint16_t h) { return small_float::decode_f16(h); }
uint16_t f32_to_f16(float f) { return static_cast<uint16_t>(encode_small<5, 10, true>(f, 0x7E00u, 0x7BFFu, false)); }

float bf16_to_f32(uint16_t h) { return small_float::decode_bf16(h); }
uint16_t f32_to_bf16(float f) {
  uint32_t u = small_float::f32_to_bits(f);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  uint32_t lsb = (u >> 16) & 1u;
  u += 0x7FFFu + lsb;
  return static_cast<uint16_t>(u >> 16);
}

// E4M3 ("FN"): no infinities, S.1111.111 is NaN, max 448.
float f8e4m3_to_f32(uint8_t v) { return small_float::decode_f8e4m3(v); }
float f8e5m2_to_f32(uint8_t v) { return small_float::decode_f8e5m2(v); }
uint8_t f32_to_f8e4m3(float f) { return static_cast<uint8_t>(encode_small<4, 3, false>(f, 0x7Fu, 0x7Eu, true)); }
uint8_t f32_to_f8e5m2(float f) { return static_cast<uint8_t>(encode_small<5, 2, true>(f, 0x7Eu, 0x7Bu, false)); }

void convert_dtype(const void* src, DType from, void* dst, DType to, size_t n) {
  if (from == to) {
    std::memcpy(dst, src, n * dtype_size(from));
    return;
  }
  // Fast paths for the common weight casts; memcpy loads/stores because tensor data in a file need not
  // be aligned (safetensors offsets are relative to an 8-byte header plus any header length).
  const char* s8 = static_cast<const char*>(src);
  char* d8 = static_cast<char*>(dst);
  if (from == DType::F32 && to == DType::BF16) {
    for (size_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, s8 + 4 * i, 4);
      uint16_t h = f32_to_bf16(f);
      std::memcpy(d8 + 2 * i, &h, 2);
    }
    return;
  }
  if (from == DType::BF16 && to == DType::F32) {
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, s8 + 2 * i, 2);
      float f = bf16_to_f32(h);
      std::memcpy(d8 + 4 * i, &f, 4);
    }
    return;
  }
  for (size_t i = 0; i < n; ++i) put(dst, to, i, get(src, from, i));
}

uint64_t shape_numel(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw std::overflow_error("negative dimension");
    uint64_t u = static_cast<uint64_t>(d);
    if (u != 0 && n > UINT64_MAX / u) throw std::overflow_error("element count overflows");
    n *= u;
  }
  return n;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace paramkit
