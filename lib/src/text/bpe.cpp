// BPE merges over a doubly linked list of symbols with a min-heap of candidate pairs (stale entries are
// recognised and dropped when popped).
#include "paramkit/text/bpe.h"

#include <algorithm>
#include <functional>

namespace paramkit::text {

size_t BpeMerges::slot_of(uint64_t k) const {
  size_t mask = slots_.size() - 1;
  size_t i = size_t((k * 0x9E3779B97F4A7C15ull) >> shift_);  // the top bits depend on every key bit
  while (slots_[i].key != empty && slots_[i].key != k) i = (i + 1) & mask;
  return i;
}

const BpeMerges::Slot* BpeMerges::find(int32_t a, int32_t b) const {
  if (slots_.empty()) return nullptr;
  const Slot& s = slots_[slot_of(key(a, b))];
  return s.key == empty ? nullptr : &s;
}

void BpeMerges::add(int32_t left, int32_t right, int32_t rank, int32_t result) {
  if (2 * (count_ + 1) > slots_.size()) {
    std::vector<Slot> old(slots_.empty() ? 16 : slots_.size() * 2);
    old.swap(slots_);
    shift_ = 64;
    for (size_t s = slots_.size(); s > 1; s >>= 1) --shift_;
    for (const Slot& s : old)
      if (s.key != empty) slots_[slot_of(s.key)] = s;
  }
  Slot& s = slots_[slot_of(key(left, right))];
  if (s.key != empty) return;  // the first rank stays
  s = {key(left, right), rank, result};
  ++count_;
}

void BpeMerges::apply(std::vector<int32_t>& symbols) const {
  const size_t n = symbols.size();
  if (n < 2) return;
  if (n == 2) {  // the common short case without the heap
    if (const Slot* m = find(symbols[0], symbols[1])) symbols = {m->result};
    return;
  }
  std::vector<int32_t> prev(n), next(n);
  std::vector<int32_t>& id = symbols;  // id[i] < 0: merged away
  for (size_t i = 0; i < n; ++i) {
    prev[i] = int32_t(i) - 1;
    next[i] = i + 1 < n ? int32_t(i + 1) : -1;
  }
  // Candidates as rank << 32 | position: one integer compare orders by rank, then leftmost. A popped
  // candidate is current when its pair still has that rank (a rank belongs to one pair).
  std::vector<uint64_t> heap;
  heap.reserve(n);
  auto cand = [&](int32_t pos) -> const Slot* {
    if (pos < 0 || id[pos] < 0 || next[pos] < 0) return nullptr;
    return find(id[pos], id[next[pos]]);
  };
  for (size_t i = 0; i + 1 < n; ++i)
    if (const Slot* m = cand(int32_t(i))) heap.push_back((uint64_t(uint32_t(m->rank)) << 32) | i);
  std::greater<uint64_t> later;
  std::make_heap(heap.begin(), heap.end(), later);
  auto push = [&](int32_t pos) {
    if (const Slot* m = cand(pos)) {
      heap.push_back((uint64_t(uint32_t(m->rank)) << 32) | uint32_t(pos));
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    uint64_t top = heap.back();
    heap.pop_back();
    int32_t pos = int32_t(top & 0xFFFFFFFFu);
    const Slot* m = cand(pos);
    if (!m || uint32_t(m->rank) != uint32_t(top >> 32)) continue;  // stale
    int32_t r = next[pos];
    id[pos] = m->result;
    id[r] = -1;
    next[pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = pos;
    push(prev[pos]);
    push(pos);
  }
  size_t k = 0;
  for (size_t i = 0; i < n; ++i)
    if (id[i] >= 0) id[k++] = id[i];
  id.resize(k);
}

}  // namespace paramkit::text
