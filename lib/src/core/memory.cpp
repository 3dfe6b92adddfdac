#include "paramkit/core/memory.h"

#include <sys/resource.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace paramkit {

int64_t peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;
}

void reuse_freed_memory() {
#ifdef __GLIBC__
  mallopt(M_ARENA_MAX, 1);              // threads share the heap, so one's frees serve another
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest: blocks up to 32 MiB come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);   // keep up to 1 GiB of free heap for reuse
#endif
}

}  // namespace paramkit
