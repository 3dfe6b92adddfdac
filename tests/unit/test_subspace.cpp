// Training in a random subspace (nn/subspace.h): the projections' defining properties and the
// gradient that reaches theta_d, against materialised matrices.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "paramkit/core/error.h"
#include "paramkit/nn/subspace.h"

using namespace paramkit;
using namespace paramkit::nn;

namespace {
torch::nn::Sequential small_net() {
  torch::manual_seed(0);
  return torch::nn::Sequential(torch::nn::Linear(5, 8), torch::nn::Tanh(), torch::nn::Linear(8, 3));  // D = 40 + 8 + 24 + 3 = 75
}
}  // namespace

TEST_CASE("Walsh-Hadamard transform of the spec's vector, and H H = n I") {
  const torch::Tensor x = torch::tensor({1.f, 0.f, 1.f, 0.f, 0.f, 1.f, 1.f, 0.f});
  CHECK(torch::equal(walsh_hadamard(x), torch::tensor({4.f, 2.f, 0.f, -2.f, 0.f, 2.f, 0.f, 2.f})));
  const torch::Tensor y = torch::randn({3, 16});
  CHECK(torch::allclose(walsh_hadamard(walsh_hadamard(y)), 16 * y, 1e-5, 1e-5));
}

TEST_CASE("the blocked in-place Walsh-Hadamard (float32, CPU) equals the level-by-level tensor form (float64) at every length") {
  // 2^0 .. 2^18 covers the 8-point kernel, the L1 blocks, the radix-4 passes and a last single level.
  for (int64_t n = 1; n <= (int64_t{1} << 18); n *= 2) {
    CAPTURE(n);
    const torch::Tensor x = torch::randn({2, n});
    const torch::Tensor fast = walsh_hadamard(x);
    const torch::Tensor ref = walsh_hadamard(x.to(torch::kFloat64));
    CHECK(torch::allclose(fast.to(torch::kFloat64), ref, 1e-4, 1e-3 * std::sqrt(static_cast<double>(n))));
  }
  // and a Sylvester Hadamard matrix, built independently, at n = 16
  torch::Tensor H = torch::ones({1, 1}, torch::kFloat64);
  for (int k = 0; k < 4; ++k) H = torch::cat({torch::cat({H, H}, 1), torch::cat({H, -H}, 1)}, 0);
  const torch::Tensor v = torch::randn({16}, torch::kFloat64);
  CHECK(torch::allclose(walsh_hadamard(v.to(torch::kFloat32)).to(torch::kFloat64), torch::mv(H, v), 1e-5, 1e-5));
}

TEST_CASE("the fused CPU kernels (float32: Fastfood, sparse) equal the tensor forms (float64), forward and transposed") {
  for (int64_t D : {75, 1000, 5000})
    for (ProjectionKind k : {ProjectionKind::fastfood, ProjectionKind::sparse}) {
      CAPTURE(D);
      CAPTURE(projection_name(k));
      auto p = make_projection({k, 40, 9}, {D / 3, D - D / 3});
      const torch::Tensor t = torch::randn({40});
      const torch::Tensor t32 = t.clone().requires_grad_(true), t64 = t.to(torch::kFloat64).requires_grad_(true);
      const torch::Tensor y32 = p->apply(t32), y64 = p->apply(t64);
      CHECK((y32.scalar_type() == torch::kFloat32));
      CHECK(torch::allclose(y32.to(torch::kFloat64), y64, 1e-4, 1e-5));
      const torch::Tensor g = torch::randn({D});
      y32.backward(g);
      y64.backward(g.to(torch::kFloat64));
      CHECK(torch::allclose(t32.grad().to(torch::kFloat64), t64.grad(), 1e-4, 1e-4));
    }
}

TEST_CASE("dense and sparse projections have unit columns over the whole model, regenerated from the seed") {
  auto net = small_net();
  for (ProjectionKind k : {ProjectionKind::dense, ProjectionKind::sparse}) {
    CAPTURE(projection_name(k));
    Subspace s(*net, {k, 20, 7});
    CHECK(s.D() == 75);
    const torch::Tensor P = s.projection().materialize();
    CHECK(P.sizes() == torch::IntArrayRef({75, 20}));
    const torch::Tensor norms = P.norm(2, {0});
    // sparse: a column may draw no entry in small layers, never in all of them at this size
    CHECK(torch::allclose(norms, torch::ones_like(norms), 1e-5, 1e-5));
    Subspace again(*net, {k, 20, 7}), other(*net, {k, 20, 8});
    CHECK(torch::equal(again.projection().materialize(), P));
    CHECK_FALSE(torch::equal(other.projection().materialize(), P));
    if (k == ProjectionKind::sparse) {
      const double density = (P != 0).sum().item<double>() / P.numel();
      CHECK(density < 0.5);
      CHECK(density > 0.05);
    }
  }
}

TEST_CASE("Fastfood preserves squared norms in expectation over seeds (mean ratio within 0.08 of 1 over 400 seeds)") {
  const std::vector<int64_t> layers = {600, 300, 100};  // D = 1000, L = 1024
  const torch::Tensor x = torch::randn({200});
  double sum = 0;
  const int n = 400;
  for (int s = 0; s < n; ++s) {
    auto p = make_projection({ProjectionKind::fastfood, 200, static_cast<uint64_t>(s)}, layers);
    sum += p->apply(x).pow(2).sum().item<double>() / x.pow(2).sum().item<double>();
  }
  CHECK(std::fabs(sum / n - 1) < 0.08);
  auto p = make_projection({ProjectionKind::fastfood, 200, 3}, layers);
  CHECK(p->apply(x).size(0) == 1000);
  CHECK(torch::equal(p->apply(x), make_projection({ProjectionKind::fastfood, 200, 3}, layers)->apply(x)));
}

TEST_CASE("the gradient reaching theta_d is P^T (dL/dtheta + l2 theta), for every projection") {
  for (ProjectionKind k : {ProjectionKind::dense, ProjectionKind::sparse, ProjectionKind::fastfood}) {
    CAPTURE(projection_name(k));
    auto net = small_net();
    Subspace s(*net, {k, 12, 5});
    {
      torch::NoGradGuard ng;
      s.theta_d().normal_(0, 0.3);  // away from theta0
    }
    s.load();
    const torch::Tensor x = torch::randn({7, 5}), y = torch::randint(0, 3, {7}, torch::kInt64);
    torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(x), y);
    loss.backward();
    std::vector<torch::Tensor> gs;
    for (auto& p : net->parameters()) gs.push_back(p.grad().reshape(-1).clone());
    const torch::Tensor g = torch::cat(gs);
    s.backward(1e-2);
    const torch::Tensor P = s.projection().materialize();
    const torch::Tensor theta = s.theta0() + torch::mv(P, s.theta_d().detach());
    const torch::Tensor want = torch::mv(P.t(), g + 1e-2 * theta);
    CHECK(torch::allclose(s.theta_d().grad(), want, 1e-4, 1e-6));
    for (auto& p : net->parameters()) CHECK_FALSE(p.grad().defined());
    // the parameters hold theta0 + P theta_d
    std::vector<torch::Tensor> ps;
    for (auto& p : net->parameters()) ps.push_back(p.detach().reshape(-1));
    CHECK(torch::allclose(torch::cat(ps), theta, 1e-5, 1e-6));
  }
}

TEST_CASE("projection bounds: d in 1..D, a dense P over the memory budget is refused naming the bytes") {
  auto net = small_net();
  CHECK_THROWS_WITH_AS(Subspace(*net, {ProjectionKind::fastfood, 0, 1}), doctest::Contains("--d"), UsageError);
  CHECK_THROWS_WITH_AS(Subspace(*net, {ProjectionKind::dense, 76, 1}), doctest::Contains("D = 75"), UsageError);
  CHECK_THROWS_WITH_AS(make_projection({ProjectionKind::dense, 1000, 1, int64_t{1} << 20}, {200000}),
                       doctest::Contains("--memory-budget"), UsageError);
  CHECK_THROWS_AS(parse_projection("gaussian", "--projection"), UsageError);
}

namespace {
// The paper's toy: D = 1000 parameters, 10 independent constraints (each block of 100 sums to a target).
struct Toy : torch::nn::Module {
  torch::Tensor theta;
  Toy() { theta = register_parameter("theta", torch::randn({1000}) * 0.1); }
  torch::Tensor loss(const torch::Tensor& targets) { return (theta.view({10, 100}).sum(1) - targets).pow(2).sum(); }
};
double train_toy(int64_t d, ProjectionKind kind) {
  torch::manual_seed(1);
  Toy toy;
  const torch::Tensor targets = torch::linspace(-3, 3, 10);
  Subspace s(toy, {kind, d, 11});
  // a quadratic in theta_d: L-BFGS (gradients through the subspace) solves it in a few dozen iterations
  torch::optim::LBFGS opt({s.theta_d()}, torch::optim::LBFGSOptions(1).max_iter(500).tolerance_grad(1e-12).tolerance_change(1e-14)
                                             .line_search_fn("strong_wolfe"));
  auto closure = [&] {
    s.load();
    opt.zero_grad();
    torch::Tensor l = toy.loss(targets);
    l.backward();
    s.backward();
    return l;
  };
  for (int i = 0; i < 4; ++i) opt.step(closure);
  s.load();
  return toy.loss(targets).item<double>();
}
}  // namespace

TEST_CASE("the paper's toy (D = 1000, 10 independent constraints): solved in a 10-dimensional subspace, not in a 9-dimensional one") {
  for (ProjectionKind k : {ProjectionKind::dense, ProjectionKind::fastfood}) {
    CAPTURE(projection_name(k));
    const double initial = [] {
      torch::manual_seed(1);
      Toy toy;
      return toy.loss(torch::linspace(-3, 3, 10)).item<double>();
    }();
    CHECK(train_toy(10, k) < 1e-4 * initial);  // d_int100 = 10
    CHECK(train_toy(9, k) > 1e-2 * initial);   // one constraint short
  }
}

TEST_CASE("d = D with an orthonormal dense P: SGD in the subspace takes the steps of direct training") {
  // theta_d moves by -lr P^T g, so theta moves by -lr P P^T g = -lr g: the direct step, to rounding.
  const torch::Tensor x = torch::randn({32, 5}), y = x.slice(1, 0, 3).argmax(1);  // learnable labels
  auto direct = small_net();
  auto sub_net = small_net();
  Subspace s(*sub_net, {ProjectionKind::dense, 75, 3, int64_t{1} << 30, true});
  const torch::Tensor P = s.projection().materialize();
  CHECK(torch::allclose(torch::mm(P.t(), P), torch::eye(75), 1e-5, 1e-5));
  torch::optim::SGD od(direct->parameters(), torch::optim::SGDOptions(0.5));
  torch::optim::SGD os({s.theta_d()}, torch::optim::SGDOptions(0.5));
  double first = 0, last_direct = 0, last_sub = 0;
  for (int step = 0; step < 50; ++step) {
    od.zero_grad();
    torch::Tensor ld = torch::nn::functional::cross_entropy(direct->forward(x), y);
    ld.backward();
    od.step();
    s.load();
    os.zero_grad();
    torch::Tensor ls = torch::nn::functional::cross_entropy(sub_net->forward(x), y);
    ls.backward();
    s.backward();
    os.step();
    if (step == 0) first = ld.item<double>();
    last_direct = ld.item<double>();
    last_sub = ls.item<double>();
  }
  s.load();
  std::vector<torch::Tensor> a, b;
  for (auto& p : direct->parameters()) a.push_back(p.detach().reshape(-1));
  for (auto& p : sub_net->parameters()) b.push_back(p.detach().reshape(-1));
  CHECK(last_direct < 0.7 * first);  // it trained
  CHECK(std::abs(last_sub - last_direct) < 1e-4);
  CHECK(torch::allclose(torch::cat(a), torch::cat(b), 1e-4, 1e-4));
  // A unit-column (not orthogonal) P is not enough: the steps differ.
  auto other = small_net();
  Subspace u(*other, {ProjectionKind::dense, 75, 3});
  const torch::Tensor U = u.projection().materialize();
  CHECK_FALSE(torch::allclose(torch::mm(U.t(), U), torch::eye(75), 1e-2, 1e-2));
  CHECK_THROWS_AS(make_projection({ProjectionKind::fastfood, 10, 1, int64_t{1} << 30, true}, {75}), UsageError);
}

TEST_CASE("a subspace solution (seed + theta_d + model spec) expands to the trained weights: identical logits, same bytes") {
  ModelSpec spec;
  spec.name = "mlp";
  spec.in_shape = {6, 6};
  spec.hidden = {7};
  spec.classes = 4;
  for (ProjectionKind k : {ProjectionKind::dense, ProjectionKind::sparse, ProjectionKind::fastfood}) {
    CAPTURE(projection_name(k));
    std::function<torch::Tensor(torch::Tensor)> forward;
    auto model = build_model(spec, 42, forward);
    Subspace s(*model, {k, 9, 42});
    {
      torch::NoGradGuard ng;
      s.theta_d().normal_(0, 0.5);
    }
    s.load();
    const torch::Tensor x = torch::randn({5, 6, 6});
    const torch::Tensor logits = forward(x).detach();
    SubspaceSolution sol;
    sol.model = spec;
    sol.projection = {k, 9, 42};
    sol.D = s.D();
    sol.theta0 = fingerprint_weights(s.theta0());
    sol.theta_d = s.theta_d().detach().clone();
    const auto path = std::filesystem::temp_directory_path() / "paramkit-test-solution.safetensors";
    save_subspace_solution(path, sol, {});
    CHECK(std::filesystem::file_size(path) < 1000);  // 9 floats and a header
    const SubspaceSolution back = load_subspace_solution(path);
    CHECK(back.model.hidden == spec.hidden);
    CHECK(back.theta0 == sol.theta0);
    std::function<torch::Tensor(torch::Tensor)> f2;
    auto expanded = expand_subspace_solution(back, f2);
    CHECK(torch::equal(f2(x).detach(), logits));
    // another seed's initial weights are refused, not expanded to wrong weights
    SubspaceSolution wrong = back;
    wrong.theta0 = "0000000000000000";
    CHECK_THROWS_WITH_AS(expand_subspace_solution(wrong, f2), doctest::Contains("initial weights differ"), Error);
    std::filesystem::remove(path);
  }
  CHECK_THROWS_AS(model_spec_from_json(nlohmann::json{{"name", "mlp"}, {"in_shape", {6}}, {"classes", 0}, {"hidden", nlohmann::json::array()}}, "f.json"), InputError);
  CHECK_THROWS_WITH_AS(model_spec_from_json(nlohmann::json{{"name", "vgg"}}, "f.json"), doctest::Contains("f.json: model.name"), InputError);
  CHECK(model_spec_from_json(to_json(spec), "x").in_shape == spec.in_shape);
}

TEST_CASE("a subspace over ResNet-20 (convolutions, batch norm): gradients reach theta_d, the buffers are checkpointed") {
  torch::manual_seed(1);
  nn::ResNet20 net(1, 10, 4);  // width 4: small, same structure
  Subspace s(*net, {ProjectionKind::fastfood, 6, 2});
  CHECK_FALSE(s.state().empty());  // batch-norm running statistics travel with the checkpoint
  {
    torch::NoGradGuard ng;
    s.theta_d().normal_(0, 0.1);
  }
  s.load();
  const torch::Tensor x = torch::randn({4, 1, 12, 12}), y = torch::randint(0, 10, {4}, torch::kInt64);
  torch::nn::functional::cross_entropy(net->forward(x), y).backward();
  std::vector<torch::Tensor> gs;
  for (auto& p : net->parameters()) gs.push_back(p.grad().reshape(-1).clone());
  s.backward(0.0);
  const torch::Tensor P = s.projection().materialize();
  CHECK(torch::allclose(s.theta_d().grad(), torch::mv(P.t(), torch::cat(gs)), 1e-3, 1e-5));
}
