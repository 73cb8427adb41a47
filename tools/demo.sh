#!/usr/bin/env bash
# End-to-end demo on a freshly generated sample dump; every step writes under OUT (default demo_out/).
set -euo pipefail
OUT=${1:-demo_out}
rm -rf "$OUT"
mkdir -p "$OUT"

echo "== 1. Generate the sample dump (7 drawn families + the real dump's mess)"
python -m tools.make_sample_dump --out "$OUT/sample_dump"

echo "== 2. Dry run: filter funnel, skips per reason, grouped splits"
python -m pyck_tfds.inspect "$OUT/sample_dump" --min_per_class=100 --noprogress

echo "== 3. Exploration plots"
python -m tools.explore "$OUT/sample_dump" --out "$OUT/explore"

echo "Demo outputs are in $OUT/"
