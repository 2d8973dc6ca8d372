#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Configure and build esmpi into build/ (warnings are errors).
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DESMPI_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)"
