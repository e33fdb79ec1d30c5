// Options the inference commands share: which device a model runs on and in which precision.
#pragma once

#include "strand/nn/parameter.h"

#include <CLI/CLI.hpp>

#include <string>

namespace strand::cli {

struct DeviceOptions {
  std::string device = "cpu";
  std::string precision = "bf16";

  void add_to(CLI::App& cmd) {
    cmd.add_option("--device", device, "cpu, cuda (the first GPU) or cuda:N (GPU N)")
        ->check(CLI::Validator(
            [](const std::string& value) {
              Device parsed;
              return parse(value, parsed) ? std::string() : "expected cpu, cuda or cuda:N, got " + value;
            },
            "cpu|cuda|cuda:N"))
        ->capture_default_str();
    cmd.add_option("--precision", precision,
                   "compute precision on cuda: bf16 or fp32 (the CPU computes in fp32)")
        ->check(CLI::IsMember({"bf16", "fp32"}))
        ->capture_default_str();
  }
  nn::Placement placement() const {
    Device d;
    STRAND_CHECK(parse(device, d), "--device: expected cpu, cuda or cuda:N, got {}", device);
    if (d.type == DeviceType::CPU) return DType::F32;
    nn::Placement p = nn::Placement::cuda(precision == "bf16" ? DType::BF16 : DType::F32);
    p.device = d;
    return p;
  }

 private:
  // "cpu", "cuda" (GPU 0) or "cuda:N" with N a non-negative decimal number.
  static bool parse(const std::string& value, Device& out) {
    if (value == "cpu" || value == "cuda") {
      out = value == "cpu" ? Device::cpu() : Device::cuda();
      return true;
    }
    const std::string prefix = "cuda:";
    if (value.rfind(prefix, 0) != 0 || value.size() == prefix.size() || value.size() > prefix.size() + 4)
      return false;
    int index = 0;
    for (size_t i = prefix.size(); i < value.size(); ++i) {
      if (value[i] < '0' || value[i] > '9') return false;
      index = index * 10 + (value[i] - '0');
    }
    out = Device::cuda(index);
    return true;
  }
};

}  // namespace strand::cli
