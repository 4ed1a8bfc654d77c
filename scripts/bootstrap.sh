#!/usr/bin/env bash
# Installs every system package AMK needs to build and test (Debian/Ubuntu). Idempotent: packages
# already present are left alone, and apt is not touched at all when nothing is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost-graph-dev   # checker: happens-before graph
  nlohmann-json3-dev   # JSON reports and witnesses
  libz3-dev            # checker: SMT cross-check
  libgtest-dev         # test suite
  libcli11-dev         # command-line parsing of the tools
  libssl-dev           # SHA-256 content hash of schedules and compiled kernels
  clang-14 libclang-rt-14-dev  # libFuzzer targets (-DAMK_FUZZ=ON)
  jq                   # bench/run_checker_bench.sh merges JSON results
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} packages present"
  exit 0
fi

echo "bootstrap: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
