#!/usr/bin/env bash
# Runs every test: installs dependencies, configures, builds (warnings are
# errors), then runs ctest. Exits non-zero on any failure.
#   hack/test.sh                 # the full suite
#   BUILD_DIR=build-asan CMAKE_ARGS=-DFRUGAL_ASAN=ON hack/test.sh   # under sanitizers
#   CTEST_ARGS="-L unit" hack/test.sh                               # one label
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

hack/install-deps.sh
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "$JOBS"
# shellcheck disable=SC2086
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" ${CTEST_ARGS:-}
