// Multi-process execution on LibTorch's c10d (issue 20): the rendezvous torchrun defines (MASTER_ADDR,
// MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK), a Gloo process group on the CPU, and reallocation plans
// (rlhf/realloc.h) executed across processes with point-to-point sends. Built only where c10d's Gloo
// headers exist (PARAMKIT_HAVE_GLOO); elsewhere `available()` is false and `Group` refuses to start.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "paramkit/rlhf/realloc.h"

namespace paramkit::rlhf::dist {

bool available();

struct Env {
  int64_t rank = 0, world = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};
// From the environment as torchrun sets it; UsageError naming the variable when one is missing or bad.
// With none of them set: a world of one process (rank 0) on a free local port.
Env env_from_environment();
// A free TCP port on the loopback interface.
int free_local_port();

class Group {
 public:
  // Connects to the rendezvous (rank 0 hosts the TCP store); `timeout_s` bounds every wait.
  Group(const Env& e, double timeout_s = 60);
  ~Group();
  int64_t rank() const;   // within this group
  int64_t world() const;  // its size
  // The processes of this group by their ranks in the whole job (0..world-1 for the job's group).
  const std::vector<int64_t>& members() const { return members_; }
  void barrier();
  void all_gather(const torch::Tensor& in, std::vector<torch::Tensor>& out);
  void all_reduce(torch::Tensor& t);                   // sum, in place
  void broadcast(torch::Tensor& t, int64_t root);      // root: a rank of this group
  void send(const torch::Tensor& t, int64_t dst, int tag);
  void recv(torch::Tensor& t, int64_t src, int tag);   // into t (shape and dtype known)
  // A send that returns at once (the tensor is kept until wait_sends()).
  void isend(const torch::Tensor& t, int64_t dst, int tag);
  void wait_sends();
  // The group of some of this group's processes (ranks of this group, ascending), made once per list
  // and cached. Making one waits for all its members: every process must ask for the lists it belongs
  // to in one order shared by all processes (e.g. all visit every list in the same sequence). nullptr
  // when this process is not in the list.
  std::shared_ptr<Group> subgroup(const std::vector<int64_t>& ranks);

  struct Impl;
  std::unique_ptr<Impl> impl;

 private:
  Group() = default;
  std::vector<int64_t> members_;
};

// Runs `plan` (from layout -> to layout) across the group: rank r of `from` is process src_ranks[r] of
// the group, rank r of `to` process dst_ranks[r] (the meshes may overlap). This process holds `mine`,
// its shards of the source layout (empty when it is not in it), and gets its shards of the destination
// layout (empty when it is not in it). Sends are posted first, then the receives in plan order.
realloc::Shards::value_type execute(Group& g, const realloc::ModelLayout& m, const realloc::Layout& from, const realloc::Layout& to,
                                    const realloc::TransferPlan& plan, const std::vector<int64_t>& src_ranks,
                                    const std::vector<int64_t>& dst_ranks, const realloc::Shards::value_type& mine);
// Rank r of each layout on process r.
realloc::Shards::value_type execute(Group& g, const realloc::ModelLayout& m, const realloc::Layout& from, const realloc::Layout& to,
                                    const realloc::TransferPlan& plan, const realloc::Shards::value_type& mine);

}  // namespace paramkit::rlhf::dist
