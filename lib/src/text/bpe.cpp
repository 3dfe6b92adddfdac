// BPE merges over a doubly linked list of symbols with a min-heap of candidate pairs (stale entries are
// recognised and dropped when popped).
#include "paramkit/text/bpe.h"

#include <queue>

namespace paramkit::text {

void BpeMerges::add(int32_t left, int32_t right, int32_t rank, int32_t result) {
  map_.emplace(key(left, right), Merge{rank, result});
}

void BpeMerges::apply(std::vector<int32_t>& symbols) const {
  const size_t n = symbols.size();
  if (n < 2) return;
  if (n == 2) {  // the common short case without the heap
    auto it = map_.find(key(symbols[0], symbols[1]));
    if (it != map_.end()) symbols = {it->second.result};
    return;
  }
  std::vector<int32_t> prev(n), next(n);
  std::vector<int32_t>& id = symbols;  // id[i] < 0: merged away
  for (size_t i = 0; i < n; ++i) {
    prev[i] = int32_t(i) - 1;
    next[i] = i + 1 < n ? int32_t(i + 1) : -1;
  }
  struct Cand {
    int32_t rank, pos, left, right, result;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int32_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    auto it = map_.find(key(id[pos], id[next[pos]]));
    if (it != map_.end()) heap.push({it->second.rank, pos, id[pos], id[next[pos]], it->second.result});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(int32_t(i));
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    int32_t r = next[c.pos];
    if (id[c.pos] != c.left || r < 0 || id[r] != c.right) continue;  // stale
    id[c.pos] = c.result;
    id[r] = -1;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  size_t k = 0;
  for (size_t i = 0; i < n; ++i)
    if (id[i] >= 0) id[k++] = id[i];
  id.resize(k);
}

}  // namespace paramkit::text
