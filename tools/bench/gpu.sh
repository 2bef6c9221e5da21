#!/usr/bin/env bash
# The GPU benchmark: Darkroom's bench on the CUDA (and WebGPU) provider and the PyTorch reference of
# the same architecture, on the same machine, then one table with the ratios.
#
# On the lent GPU machine (see docs/benchmarks.md and ../shared/gpu/README.md), from the repository
# root, each stage in its own device call (a call may run 10 minutes):
#   bash .gpu/unpack.sh && source /root/gpu-stash/env.sh && bash tools/bench/gpu.sh <stage> [shape]
# On any machine with an NVIDIA GPU, node, the CUDA provider and a python with torch:
#   bash tools/bench/gpu.sh all sd15
#
# Stages:
#   build            build (or reuse) the shape's fp16 model under $MODELS
#   darkroom [opts]  darkroom bench on CUDA, one report per optimisation set ($OPTS, default ort-all,fused,fused-fixed,ort-cached)
#   convert          the engine's float16 conversion of a float32 build (what a float32 export gets on
#                    CUDA by default): set fused-fp16, reported as converted-*.json beside the fp16 build's fused
#   webgpu           darkroom bench on WebGPU (ort-all, nhwc); needs the Vulkan loader
#   torch            the PyTorch reference, eager ($TORCH_MODES, default eager)
#   torch-compile    the PyTorch reference with torch.compile (default and reduce-overhead), fewer shapes
#   combine          $OUT/summary-<shape>.md from every report of the shape in $OUT
#   all              everything above, in order
# Environment: RESULTS (where reports accumulate across calls; default /root/bench-results when /root is
# writable, else ./bench-results), OUT (each stage's new files are also copied there: the device call's
# $OUT, which is emptied before every call), MODELS (default /root/bench-models), PYTHON (default python3), BATCHES (UNet batch sizes, default 1,2,4,8,16),
# IMAGES (images per request, default 1,4,8,16), RUNS (default 10); PROVIDER (cuda), DEVICE (torch's,
# cuda) and DTYPE (fp16) exist for a dry run on CPU: PROVIDER=cpu DEVICE=cpu DTYPE=fp32 ... all mini.
set -euo pipefail
stage=${1:-all}
shape=${2:-sd15}
if [ -n "${RESULTS:-}" ]; then out=$RESULTS; elif [ -w /root ]; then out=/root/bench-results; else out=./bench-results; fi
models=${MODELS:-/root/bench-models}
python=${PYTHON:-python3}
batches=${BATCHES:-1,2,4,8,16}
images=${IMAGES:-1,4,8,16}
runs=${RUNS:-10}
provider=${PROVIDER:-cuda}
device=${DEVICE:-cuda}
dtype=${DTYPE:-fp16}
mkdir -p "$out"
# The bench script itself (what `darkroom bench` runs), so a change elsewhere in the CLI cannot stop it.
darkroom() { node --import tsx tools/bench/run.ts "${@:2}"; }
common=(--shape "$shape" --dtype "$dtype" --models-dir "$models" --runs "$runs" --batches "$batches" --images "$images")

machine() {
  { date -u +%FT%TZ; nvidia-smi || true; node --version; "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' || true; } > "$out/machine-$shape.txt" 2>&1
}

run_stage() {
  case "$1" in
    build)
      machine
      darkroom bench --build-only --shape "$shape" --dtype "$dtype" --models-dir "$models"
      ;;
    darkroom)
      IFS=, read -ra opts <<< "${3:-${OPTS:-ort-all,fused,fused-fixed,ort-cached}}"
      for o in "${opts[@]}"; do
        darkroom bench "${common[@]}" --providers "$provider" --opt "$o" --json "$out/darkroom-$shape-$provider-$o.json" | tee "$out/darkroom-$shape-$provider-$o.txt"
      done
      ;;
    convert)
      darkroom bench --build-only --shape "$shape" --dtype fp32 --models-dir "$models"
      darkroom bench --shape "$shape" --dtype fp32 --models-dir "$models" --runs "$runs" --batches "$batches" --images "$images" \
        --providers "$provider" --opt fused-fp16 --json "$out/converted-$shape-$provider-fused-fp16.json" | tee "$out/converted-$shape-$provider-fused-fp16.txt"
      ;;
    webgpu)
      darkroom bench "${common[@]}" --providers webgpu --opt ort-all,nhwc --batches 1,2 --images 1 --json "$out/darkroom-$shape-webgpu.json" | tee "$out/darkroom-$shape-webgpu.txt" || true
      ;;
    torch)
      darkroom bench --print-config --shape "$shape" > "$out/config-$shape.json"
      "$python" tools/bench/torch_reference.py --config "$out/config-$shape.json" --device "$device" --dtype "$dtype" \
        --modes "${TORCH_MODES:-eager}" --batches "$batches" --images "$images" --runs "$runs" --json "$out/torch-$shape-eager.json" > /dev/null
      ;;
    torch-compile)
      darkroom bench --print-config --shape "$shape" > "$out/config-$shape.json"
      "$python" tools/bench/torch_reference.py --config "$out/config-$shape.json" --device "$device" --dtype "$dtype" \
        --modes compile,compile-reduce-overhead --batches "${COMPILE_BATCHES:-2,16}" --images "${COMPILE_IMAGES:-1,8}" --runs "$runs" \
        --json "$out/torch-$shape-compile.json" > /dev/null
      ;;
    combine)
      shopt -s nullglob
      files=("$out"/darkroom-"$shape"-*.json "$out"/torch-"$shape"-*.json)
      node --import tsx tools/bench/combine.ts "${files[@]}" | tee "$out/summary-$shape.md"
      ;;
    *)
      echo "gpu.sh: unknown stage $1 (build, darkroom, convert, webgpu, torch, torch-compile, combine, all)" >&2
      exit 2
      ;;
  esac
}

stamp=$(mktemp)
[ -n "${OUT:-}" ] && mkdir -p "$OUT"
if [ "$stage" = all ]; then
  for s in build darkroom convert torch torch-compile webgpu combine; do run_stage "$s" "$shape"; done
else
  run_stage "$stage" "$shape" "${3:-}"
fi
# What this call wrote, also under $OUT (the files a device call brings back).
if [ -n "${OUT:-}" ] && [ "$(cd "$OUT" && pwd)" != "$(cd "$out" && pwd)" ]; then
  find "$out" -maxdepth 1 -type f -newer "$stamp" -exec cp {} "$OUT"/ \;
fi
rm -f "$stamp"
