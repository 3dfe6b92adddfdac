// The BPE merge step of Hugging Face tokenizers: merges by rank, lowest first, leftmost among equals,
// over a linked list with a heap, so a word of n symbols takes O(n log n).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace paramkit::text {

class BpeMerges {
 public:
  // Declares that the pair (left, right) merges into `result` with priority `rank` (lower first). A pair
  // declared twice keeps its first rank.
  void add(int32_t left, int32_t right, int32_t rank, int32_t result);
  size_t size() const { return count_; }
  // Merges the symbols in place until no adjacent pair has a merge.
  void apply(std::vector<int32_t>& symbols) const;

 private:
  // Open addressing (linear probing, power-of-two size, at most half full): merges are looked up once
  // per adjacent pair, the hot loop of encoding.
  struct Slot {
    uint64_t key = empty;
    int32_t rank = 0, result = 0;
  };
  static constexpr uint64_t empty = ~uint64_t(0);
  static uint64_t key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  size_t slot_of(uint64_t k) const;
  const Slot* find(int32_t a, int32_t b) const;
  std::vector<Slot> slots_;
  size_t count_ = 0;
  int shift_ = 64;
};

}  // namespace paramkit::text
