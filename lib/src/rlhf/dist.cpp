// c10d Gloo process groups and distributed reallocation.
#include "paramkit/rlhf/dist.h"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <numeric>

#include "paramkit/core/error.h"

#ifdef PARAMKIT_HAVE_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace paramkit::rlhf::dist {

#ifdef PARAMKIT_HAVE_GLOO
bool available() { return true; }
struct Group::Impl {
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo::Options> opts;
  std::map<std::vector<int64_t>, std::shared_ptr<Group>> subgroups;
  std::vector<std::pair<std::vector<at::Tensor>, c10::intrusive_ptr<c10d::Work>>> pending;
};
#else
bool available() { return false; }
struct Group::Impl {};
#endif

namespace {
int64_t env_int(const char* name, int64_t lo, int64_t hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) throw UsageError(fmt::format("{} is not set (start the processes with `rlhf-train launch` or torchrun)", name));
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  if (*end || x < lo || x > hi) throw UsageError(fmt::format("{}={}: expected a whole number in [{}, {}]", name, v, lo, hi));
  return x;
}
}  // namespace

int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) close(fd);
    throw Error("no free local port");
  }
  const int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

Env env_from_environment() {
  Env e;
  if (!std::getenv("WORLD_SIZE") && !std::getenv("RANK") && !std::getenv("MASTER_PORT")) {
    e.master_port = free_local_port();
    return e;
  }
  e.world = env_int("WORLD_SIZE", 1, 65536);
  e.rank = env_int("RANK", 0, e.world - 1);
  e.local_rank = std::getenv("LOCAL_RANK") ? env_int("LOCAL_RANK", 0, 65535) : e.rank;
  e.master_port = static_cast<int>(env_int("MASTER_PORT", 1, 65535));
  if (const char* a = std::getenv("MASTER_ADDR")) e.master_addr = a;
  return e;
}

Group::Group(const Env& e, double timeout_s) : impl(std::make_unique<Impl>()) {
  for (int64_t r = 0; r < e.world; ++r) members_.push_back(r);
#ifdef PARAMKIT_HAVE_GLOO
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(e.master_port);
  so.isServer = e.rank == 0;
  so.numWorkers = static_cast<int>(e.world);
  so.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  auto store = c10::make_intrusive<c10d::TCPStore>(e.master_addr, so);
  auto opts = c10d::ProcessGroupGloo::Options::create();
  opts->timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(e.master_addr));
  impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(e.rank), static_cast<int>(e.world), opts);
  impl->store = store;
  impl->opts = opts;
#else
  (void)e;
  (void)timeout_s;
  throw UsageError("this build has no c10d Gloo (install libgloo-dev and rebuild): multi-process execution is unavailable");
#endif
}

Group::~Group() = default;

#ifdef PARAMKIT_HAVE_GLOO
int64_t Group::rank() const { return impl->pg->getRank(); }
int64_t Group::world() const { return impl->pg->getSize(); }
void Group::barrier() { impl->pg->barrier()->wait(); }
void Group::all_gather(const torch::Tensor& in, std::vector<torch::Tensor>& out) {
  std::vector<std::vector<at::Tensor>> o(1);
  for (int64_t r = 0; r < world(); ++r) o[0].push_back(torch::empty_like(in));
  std::vector<at::Tensor> i = {in};
  impl->pg->allgather(o, i)->wait();
  out = o[0];
}

void Group::all_reduce(torch::Tensor& t) {
  std::vector<at::Tensor> v = {t};
  impl->pg->allreduce(v)->wait();
}
void Group::broadcast(torch::Tensor& t, int64_t root) {
  std::vector<at::Tensor> v = {t};
  c10d::BroadcastOptions o;
  o.rootRank = static_cast<int>(root);
  impl->pg->broadcast(v, o)->wait();
}
void Group::send(const torch::Tensor& t, int64_t dst, int tag) {
  std::vector<at::Tensor> v = {t.contiguous()};
  impl->pg->send(v, static_cast<int>(dst), tag)->wait();
}
void Group::isend(const torch::Tensor& t, int64_t dst, int tag) {
  std::vector<at::Tensor> v = {t.contiguous()};
  auto w = impl->pg->send(v, static_cast<int>(dst), tag);
  impl->pending.emplace_back(std::move(v), std::move(w));
}
void Group::wait_sends() {
  for (auto& [buf, w] : impl->pending) w->wait();
  impl->pending.clear();
}
void Group::recv(torch::Tensor& t, int64_t src, int tag) {
  std::vector<at::Tensor> v = {t.is_contiguous() ? t : torch::empty_like(t, at::MemoryFormat::Contiguous)};
  impl->pg->recv(v, static_cast<int>(src), tag)->wait();
  if (!v[0].is_same(t)) t.copy_(v[0]);
}

std::shared_ptr<Group> Group::subgroup(const std::vector<int64_t>& ranks) {
  if (ranks.empty() || !std::is_sorted(ranks.begin(), ranks.end()) || ranks.front() < 0 || ranks.back() >= world())
    throw Error("subgroup: ranks must be ascending ranks of the group");
  const auto me = std::find(ranks.begin(), ranks.end(), rank());
  if (me == ranks.end()) return nullptr;
  auto& cached = impl->subgroups[ranks];
  if (cached) return cached;
  std::string key = "group";
  for (int64_t r : ranks) key += "-" + std::to_string(members_[static_cast<size_t>(r)]);
  auto sub = std::shared_ptr<Group>(new Group());
  sub->impl = std::make_unique<Impl>();
  for (int64_t r : ranks) sub->members_.push_back(members_[static_cast<size_t>(r)]);
  sub->impl->store = c10::make_intrusive<c10d::PrefixStore>(key, impl->store);
  sub->impl->opts = impl->opts;
  sub->impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(sub->impl->store, static_cast<int>(me - ranks.begin()),
                                                               static_cast<int>(ranks.size()), impl->opts);
  cached = sub;
  return sub;
}

realloc::Shards::value_type execute(Group& g, const realloc::ModelLayout& m, const realloc::Layout& from, const realloc::Layout& to,
                                    const realloc::TransferPlan& plan, const std::vector<int64_t>& src_ranks,
                                    const std::vector<int64_t>& dst_ranks, const realloc::Shards::value_type& mine) {
  if (static_cast<int64_t>(src_ranks.size()) != from.ranks() || static_cast<int64_t>(dst_ranks.size()) != to.ranks())
    throw UsageError("reallocation: one process per rank of each layout");
  for (const auto* v : {&src_ranks, &dst_ranks})
    for (int64_t r : *v)
      if (r < 0 || r >= g.world()) throw UsageError("reallocation: a layout has more ranks than the process group");
  const int64_t me = g.rank();
  const auto find = [me](const std::vector<int64_t>& v) {
    const auto it = std::find(v.begin(), v.end(), me);
    return it == v.end() ? int64_t{-1} : static_cast<int64_t>(it - v.begin());
  };
  const int64_t my_src = find(src_ranks), my_dst = find(dst_ranks);
  std::map<std::string, const realloc::TensorSpec*> spec;
  for (const auto& t : m.tensors) spec[t.name] = &t;
  realloc::Shards::value_type out;
  for (const auto& t : m.tensors) {
    int64_t b = 0, e = 0;
    if (my_dst < 0 || !realloc::holds(m, to, my_dst, t, b, e)) continue;
    out[t.name] = torch::full(realloc::local_shape(t, b, e), std::numeric_limits<float>::quiet_NaN(), torch::dtype(m.dtype));
  }
  auto slice = [&](const realloc::Piece& p, const torch::Tensor& t, bool src) {
    return realloc::slice_of(*spec.at(p.tensor), t, src ? p.src_begin : p.dst_begin, p.length);
  };
  std::vector<c10::intrusive_ptr<c10d::Work>> sends;
  std::vector<std::vector<at::Tensor>> send_buffers;
  send_buffers.reserve(plan.pieces.size());
  for (size_t k = 0; k < plan.pieces.size(); ++k) {
    const auto& p = plan.pieces[k];
    const int64_t dst = dst_ranks[static_cast<size_t>(p.dst)];
    if (p.src != my_src || dst == me) continue;
    send_buffers.push_back({slice(p, mine.at(p.tensor), true).contiguous()});
    sends.push_back(g.impl->pg->send(send_buffers.back(), static_cast<int>(dst), static_cast<int>(k)));
  }
  for (size_t k = 0; k < plan.pieces.size(); ++k) {
    const auto& p = plan.pieces[k];
    if (p.dst != my_dst) continue;
    torch::Tensor target = slice(p, out.at(p.tensor), false);
    const int64_t src = src_ranks[static_cast<size_t>(p.src)];
    if (src == me) {
      target.copy_(slice(p, mine.at(p.tensor), true));
      continue;
    }
    std::vector<at::Tensor> buf = {torch::empty(target.sizes(), target.options().memory_format(at::MemoryFormat::Contiguous))};
    g.impl->pg->recv(buf, static_cast<int>(src), static_cast<int>(k))->wait();
    target.copy_(buf[0]);
  }
  for (auto& w : sends) w->wait();
  return out;
}

realloc::Shards::value_type execute(Group& g, const realloc::ModelLayout& m, const realloc::Layout& from, const realloc::Layout& to,
                                    const realloc::TransferPlan& plan, const realloc::Shards::value_type& mine) {
  std::vector<int64_t> a(static_cast<size_t>(from.ranks())), b(static_cast<size_t>(to.ranks()));
  std::iota(a.begin(), a.end(), 0);
  std::iota(b.begin(), b.end(), 0);
  return execute(g, m, from, to, plan, a, b, mine);
}
#else
int64_t Group::rank() const { return 0; }
int64_t Group::world() const { return 1; }
void Group::barrier() {}
void Group::all_gather(const torch::Tensor&, std::vector<torch::Tensor>&) {}
void Group::all_reduce(torch::Tensor&) {}
void Group::broadcast(torch::Tensor&, int64_t) {}
void Group::send(const torch::Tensor&, int64_t, int) {}
void Group::recv(torch::Tensor&, int64_t, int) {}
void Group::isend(const torch::Tensor&, int64_t, int) {}
void Group::wait_sends() {}
std::shared_ptr<Group> Group::subgroup(const std::vector<int64_t>&) { return nullptr; }
realloc::Shards::value_type execute(Group&, const realloc::ModelLayout&, const realloc::Layout&, const realloc::Layout&,
                                    const realloc::TransferPlan&, const std::vector<int64_t>&, const std::vector<int64_t>&,
                                    const realloc::Shards::value_type&) {
  throw UsageError("this build has no c10d Gloo: multi-process execution is unavailable");
}
realloc::Shards::value_type execute(Group&, const realloc::ModelLayout&, const realloc::Layout&, const realloc::Layout&,
                                    const realloc::TransferPlan&, const realloc::Shards::value_type&) {
  throw UsageError("this build has no c10d Gloo: multi-process execution is unavailable");
}
#endif

}  // namespace paramkit::rlhf::dist
