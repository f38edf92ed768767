#!/usr/bin/env bash
# Code generation benchmark: time and peak memory of swaggersocket_codegen::generate_file
# on the largest documents of each generation (Swagger 2.0 kubernetes, OpenAPI 3.1
# openai, OpenAPI 3.0 github/cloudflare/stripe). Results go in BENCHMARKS.md
# ("Code generation").
#
#   scripts/bench-codegen.sh [SPEC_DIR]     (default: ../shared/specs)
#   SPECS="a.json b.yaml" scripts/bench-codegen.sh    (other documents)
#
# Each spec runs RUNS times (default 3) in a fresh process; the example prints the
# wall time of generate() (parse + model + emit to a TokenStream) and the process's
# peak RSS (VmHWM), which includes the source text itself.
set -euo pipefail
cd "$(dirname "$0")/.."
SPEC_DIR=${1:-../shared/specs}
RUNS=${RUNS:-3}
cargo build --release --locked -q -p swaggersocket-codegen --example generate
BIN=${CARGO_TARGET_DIR:-target}/release/examples/generate
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
SPECS=${SPECS:-kubernetes-1.36.json openai.yaml github-rest.json cloudflare.json stripe.yaml}
for spec in $SPECS; do
  path="$SPEC_DIR/$spec"
  if [ ! -f "$path" ]; then
    echo "$spec: not found in $SPEC_DIR, skipped"
    continue
  fi
  for _ in $(seq "$RUNS"); do
    "$BIN" "$path" 2>&1 >/dev/null | grep -v '^warning: ' || true
  done
done
