#!/usr/bin/env bash
# Installs the Debian packages strand builds against, when any is missing.
# Runs apt-get only as root and only for what is absent, so a second run is instant.
set -euo pipefail

packages=(
  cmake make g++ pkg-config
  libopenblas-dev      # sgemm/dgemm for the CPU reference linear layers
  nlohmann-json3-dev   # safetensors headers, HF config.json
  libfmt-dev           # message formatting
  libcli11-dev         # command line
  libyaml-cpp-dev      # recipes
  zlib1g-dev libzstd-dev liblzma-dev  # compressed FASTA/FASTQ/JSONL
  libgtest-dev libgmock-dev
  python3-numpy        # independent readers in tests
  xz-utils zstd gzip   # compressing test inputs
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "strand: missing Debian packages: ${missing[*]}; run 'sudo $0' or install them with apt-get" >&2
  exit 1
fi
echo "strand: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
