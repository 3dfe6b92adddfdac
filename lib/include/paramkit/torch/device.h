// --device parsing: cpu, cuda, cuda:i. Asking for CUDA where there is none is a usage error.
#pragma once
#include <c10/core/Device.h>
#include <string>

namespace paramkit {

c10::Device parse_device(const std::string& spec);

}  // namespace paramkit
