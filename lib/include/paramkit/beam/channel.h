// The far-field line-of-sight channel of an N1 x N2 holographic metasurface transceiver (HoloBeam,
// Ghosh, Hanawal & Zlatanov, INFOCOM 2024): element (m, n) has phase m psi1 + n psi2, and the received
// signal strength separates into two Dirichlet-kernel factors,
//   G(psi1, psi2) = |D_N1(psi1 - s1)|^2 |D_N2(psi2 - s2)|^2,  D_N(x) = sin(N x / 2) / sin(x / 2),
// peak N1^2 N2^2 at psi = s (the receiver's direction). No LibTorch: a pull costs nanoseconds.
#pragma once
#include <cstdint>
#include <string>

namespace paramkit::beam {

// |D_N(x)|^2, with its limit N^2 where sin(x / 2) = 0.
double dirichlet_sq(int64_t n, double x);

struct Channel {
  int64_t n1 = 16, n2 = 16;   // elements per axis
  int64_t oversample = 1;     // grid spacing 2 pi / (N oversample); 1: the paper's 2 pi / N (unimodal)
  std::string noise = "gaussian";  // gaussian: y = g + sigma eps; lognormal: y = g 10^(sigma_db eps / 10)
  double sigma = 0.1;         // gaussian: std of the noise on the normalised RSS g in [0, 1]; lognormal: dB
  double snr_db = 20;         // the SNR of the peak gain, for the achieved rate log2(1 + snr g)
  void validate() const;      // UsageError naming the flag
  int64_t k1() const { return n1 * oversample; }
  int64_t k2() const { return n2 * oversample; }
  double psi1(int64_t i) const;  // the grid's i-th value of psi1
  double psi2(int64_t j) const;
  // The normalised RSS g = G / (N1^2 N2^2) in [0, 1] of arm (i, j) for a receiver at (s1, s2).
  double gain(int64_t i, int64_t j, double s1, double s2) const;
  double factor1(int64_t i, double s1) const;  // |D_N1|^2 / N1^2 at the grid point i
  double factor2(int64_t j, double s2) const;
  double rate(double g) const;  // log2(1 + snr g), bits/s/Hz
};

}  // namespace paramkit::beam
