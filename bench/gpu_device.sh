#!/usr/bin/env bash
# bench/gpu.py on the GPU machine, which has Python 3.12 with torch but neither MNIST nor openTSNE
# and faiss, and no network. The device tool's call (carry: [bench/device]):
#   bench/gpu_device.sh run $OUT
#
#   bench/gpu_device.sh prepare   here: MNIST's raw files (gzip), the wheels of DEVICE_WHEELS and the job count per
#                                 rule of config-article.yaml's dry run into bench/device/
#   bench/gpu_device.sh run OUT   there (the device tool, carrying bench/device): writes OUT/gpu-<device>.json
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE_DIR=bench/device
DEVICE_WHEELS="openTSNE faiss-cpu"
RAW_NAMES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

case "${1:-}" in
prepare)
    mkdir -p "$DEVICE_DIR/mnist" "$DEVICE_DIR/wheels"
    targets=""
    for name in $RAW_NAMES; do targets="$targets resources/mnist/raw/$name"; done
    .venv/bin/snakemake --cores 1 $targets
    for name in $RAW_NAMES; do gzip -c "resources/mnist/raw/$name" >"$DEVICE_DIR/mnist/$name.gz"; done
    # what the t-SNE comparison needs that the GPU machine lacks (tests/test_bench.py keeps this list)
    for name in $DEVICE_WHEELS; do
        python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d "$DEVICE_DIR/wheels" "$(grep -i "^$name==" requirements.txt)"
    done
    # what the projection of the whole article run counts GPU jobs by: the "Job stats" table
    .venv/bin/snakemake --configfile config-article.yaml --dry-run --forceall --quiet rules 2>/dev/null |
        .venv/bin/python -c '
import json, sys
counts = {}
for line in sys.stdin:
    cells = line.split()
    if len(cells) == 2 and cells[1].isdigit() and cells[0] != "total":
        counts[cells[0]] = int(cells[1])
json.dump(counts, sys.stdout, indent=1)' >"$DEVICE_DIR/article-jobs.json.tmp"
    mv "$DEVICE_DIR/article-jobs.json.tmp" "$DEVICE_DIR/article-jobs.json"
    du -sh "$DEVICE_DIR"
    ;;
run)
    out=${2:?"the folder to write the JSON to"}
    python3 -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$DEVICE_DIR"/wheels/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
    mkdir -p /tmp/mnist-raw
    for name in $RAW_NAMES; do gunzip -c "$DEVICE_DIR/mnist/$name.gz" >"/tmp/mnist-raw/$name"; done
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    shift 2
    python3 bench/gpu.py --raw-dir /tmp/mnist-raw --out-dir "$out" --article-jobs "$DEVICE_DIR/article-jobs.json" "$@"
    ;;
*)
    echo "usage: $0 prepare | run OUT" >&2
    exit 2
    ;;
esac
