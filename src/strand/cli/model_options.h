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
    cmd.add_option("--device", device, "cpu, or cuda (the first GPU)")
        ->check(CLI::IsMember({"cpu", "cuda"}))
        ->capture_default_str();
    cmd.add_option("--precision", precision,
                   "compute precision on cuda: bf16 or fp32 (the CPU computes in fp32)")
        ->check(CLI::IsMember({"bf16", "fp32"}))
        ->capture_default_str();
  }
  nn::Placement placement() const {
    if (device == "cpu") return DType::F32;
    return nn::Placement::cuda(precision == "bf16" ? DType::BF16 : DType::F32);
  }
};

}  // namespace strand::cli
