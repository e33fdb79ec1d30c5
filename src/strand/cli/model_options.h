// Options the inference commands share: which device a model runs on and in which precision.
#pragma once

#include "strand/core/device_memory.h"
#include "strand/nn/parameter.h"

#include <CLI/CLI.hpp>

#include <string>

namespace strand::cli {

struct DeviceOptions {
  std::string device = "cpu";
  std::string precision = "bf16";

  void add_to(CLI::App& cmd) {
    cmd.add_option("--device", device, "cpu, cuda (the first GPU) or cuda:N (GPU N, from 0)")
        ->check(CLI::Validator(
            [](const std::string& text) {
              return try_parse_device(text) ? std::string()
                                            : fmt::format("expected {}, got {}", kDeviceNames, text);
            },
            "DEVICE"))
        ->capture_default_str();
    cmd.add_option("--precision", precision,
                   "compute precision on cuda: bf16 or fp32 (the CPU computes in fp32)")
        ->check(CLI::IsMember({"bf16", "fp32"}))
        ->capture_default_str();
  }
  // Makes the chosen GPU this thread's device (checking that one is visible, and that it exists) and places
  // the model on it.
  nn::Placement placement() const {
    if (select_requested_device(device, "--device").type == DeviceType::CPU) return DType::F32;
    return nn::Placement::cuda(precision == "bf16" ? DType::BF16 : DType::F32);
  }
};

}  // namespace strand::cli
