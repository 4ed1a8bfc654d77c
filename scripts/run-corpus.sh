#!/usr/bin/env bash
# The main job on the bundled corpus: every example schedule must parse, be well-formed and be in
# canonical form. Run from the repository root after building into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
build/bin/amk-fmt --check corpus/examples/*.amkir
