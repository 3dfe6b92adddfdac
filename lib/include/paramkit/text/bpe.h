// The BPE merge step of Hugging Face tokenizers: merges by rank, lowest first, leftmost among equals,
// over a linked list with a heap, so a word of n symbols takes O(n log n).
#pragma once
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace paramkit::text {

class BpeMerges {
 public:
  // Declares that the pair (left, right) merges into `result` with priority `rank` (lower first). A pair
  // declared twice keeps its first rank.
  void add(int32_t left, int32_t right, int32_t rank, int32_t result);
  size_t size() const { return map_.size(); }
  // Merges the symbols in place until no adjacent pair has a merge.
  void apply(std::vector<int32_t>& symbols) const;

 private:
  struct Merge {
    int32_t rank, result;
  };
  static uint64_t key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  std::unordered_map<uint64_t, Merge> map_;
};

}  // namespace paramkit::text
