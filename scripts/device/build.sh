#!/usr/bin/env bash
# Builds Emily on the lent GPU machine (the `device` tool), whose image has the CUDA
# toolkit, a compiler and CMake but not the Debian libraries the CPU backend links.
# scripts/device/fetch-debs (run on the development machine) leaves those as .deb files
# in .deps/; the device run carries that folder, and this script unpacks it under
# /tmp/deproot and points CMake at it. Usage: scripts/device/build.sh [build-dir] [cmake args...]
set -euo pipefail
build=${1:-build-gpu}
shift || true
root=/tmp/deproot
mkdir -p "$root"
for f in .deps/*.deb; do dpkg -x "$f" "$root"; done
lib=$root/usr/lib/x86_64-linux-gnu
blas=$lib/openblas-pthread/libopenblas.so
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DEMILY_CUDA=ON -DEMILY_BUILD_BENCH=ON \
  -DCMAKE_PREFIX_PATH="$root/usr" -DBLAS_LIBRARIES="$blas" -DLAPACK_LIBRARIES="$blas" \
  -DCBLAS_INCLUDE_DIR="$root/usr/include/x86_64-linux-gnu/openblas-pthread" \
  -DFFTW3F_LIBRARY="$lib/libfftw3f.so" -DFFTW3_INCLUDE_DIR="$root/usr/include" \
  -DCMAKE_CUDA_ARCHITECTURES=90a "$@"
cmake --build "$build" -j"$(nproc)"
