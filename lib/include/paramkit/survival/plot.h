// Survival curves as SVG: Kaplan-Meier steps (with dashed confidence limits) and fitted curves.
#pragma once
#include <string>
#include <vector>

namespace paramkit::survival {

struct Curve {
  std::string label;
  std::vector<double> t, s;
  bool step = false;    // right-continuous step function (Kaplan-Meier)
  bool dashed = false;  // confidence limits
  int color = 0;        // palette index
  bool legend = true;
};

std::string survival_svg(const std::vector<Curve>& curves, const std::string& title, const std::string& x_label);

}  // namespace paramkit::survival
