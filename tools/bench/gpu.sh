#!/usr/bin/env bash
# The GPU benchmark: Darkroom's bench on the CUDA (and WebGPU) provider, the server under concurrent
# requests, and the PyTorch reference of the same architecture, on the same machine, then one table
# with the ratios.
#
# On the lent GPU machine (see docs/benchmarks.md and ../shared/gpu/README.md), from the repository
# root, after the unpack calls, the whole measurement is one device call (at most 8 minutes):
#   bash .gpu/unpack.sh && source /root/gpu-stash/env.sh && bash tools/bench/gpu.sh all sd15
# `all` runs $STAGES (default: build darkroom loop serve torch torch-compile combine), each under its own
# time limit (LIMIT_<STAGE> seconds, defaults below, 480 s in all), and copies each stage's reports to
# $OUT as soon as that stage ends, so a stage that runs long loses nothing of those before it;
# stages-<shape>.txt says how each stage ended and how long it took. One stage alone:
#   bash tools/bench/gpu.sh <stage> [shape]
#
# Stages:
#   build            build (or reuse) the shape's fp16 model under $MODELS
#   darkroom [opts]  darkroom bench on CUDA, one report per optimisation set ($OPTS, default fused: the
#                    CUDA default); images per UNet call up to 16 (above 8, requests joined by the
#                    worker's batching: tools/bench/batched.ts); then $FUSION_OPTS (default fused-all:
#                    every fusion, src/engine/models/fuse-set.ts; empty: none) at batches 2 and 16, 8 images, 3 runs,
#                    its UNet output for fixed inputs compared with fused's (the CUDA-only fusions' numeric check)
#   loop             the device loop against the per-step loop (tools/bench/loop.ts), same fused model folder
#                    as darkroom's, one process: end to end at $LOOP_IMAGES (1,8) images, $LOOP_RUNS (2) runs each,
#                    $LOOP_PER_CALL (5: the server's steps per call, DARKROOM_PREVIEW_EVERY) steps per device-loop call
#   serve            the server itself (tools/bench/serve.ts): $CONCURRENCY (16) create requests at
#                    once with DARKROOM_BATCH_MAX=$CONCURRENCY, against one request alone
#   iobinding        what onnxruntime-node's IO binding does on the provider (tools/bench/io-binding.ts):
#                    where a 'gpu-buffer' output comes back, and whether it feeds the next run
#   convert          the engine's float16 conversion of a float32 build (what a float32 export gets on
#                    CUDA by default): set fused-fp16, reported as converted-*.json beside the fp16 build's fused
#   webgpu           darkroom bench on WebGPU (ort-all, nhwc); needs the Vulkan loader
#   torch            the PyTorch reference, eager ($TORCH_MODES, default eager)
#   torch-compile    the PyTorch reference with torch.compile ($COMPILE_MODES, default reduce-overhead),
#                    batches 2 and 16 only (about 90 s of compiling each)
#   combine          $OUT/summary-<shape>.md from every report of the shape in $OUT
#   all              $STAGES in order, each under its limit
# Environment: RESULTS (where reports accumulate across calls; default /root/bench-results when /root is
# writable, else ./bench-results), OUT (each stage's new files are also copied there: the device call's
# $OUT, which is emptied before every call), MODELS (default /root/bench-models), PYTHON (default python3), BATCHES (UNet batch sizes, default 1,2,4,8,16),
# IMAGES (images per UNet call, default 1,4,8,16), RUNS (default 10); PROVIDER (cuda), DEVICE (torch's,
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
      IFS=, read -ra opts <<< "${3:-${OPTS:-fused}}"
      # The fused UNet's output for fixed inputs: what the fusion run below is compared with.
      reference="$out/unet-$shape-$provider-fused.f32"
      rm -f "$reference"
      for o in "${opts[@]}"; do
        save=()
        if [ "$o" = fused ]; then save=(--save-unet-output "$reference"); fi
        darkroom bench "${common[@]}" --providers "$provider" --opt "$o" ${save[@]+"${save[@]}"} --json "$out/darkroom-$shape-$provider-$o.json" | tee "$out/darkroom-$shape-$provider-$o.txt"
      done
      # ORT's other SD fusions against attention alone (the fused run above): a short sweep, last, so that overrunning loses only it.
      fusion_opts=${FUSION_OPTS-fused-all}
      if [ -n "$fusion_opts" ]; then
        compare=()
        if [ -f "$reference" ]; then compare=(--compare-unet-output "$reference"); fi
        darkroom bench "${common[@]}" --batches "${FUSION_BATCHES:-2,16}" --images "${FUSION_IMAGES:-8}" --runs "${FUSION_RUNS:-3}" --providers "$provider" \
          --opt "$fusion_opts" ${compare[@]+"${compare[@]}"} --json "$out/darkroom-$shape-$provider-$fusion_opts.json" | tee "$out/darkroom-$shape-$provider-$fusion_opts.txt"
      fi
      ;;
    loop)
      model_dir=$(darkroom bench --build-only --shape "$shape" --dtype "$dtype" --models-dir "$models" | tail -n 1)
      # darkroom's fused copy (its sessions' optimised graphs cached by then), else the engine's fused twin.
      if [ -d "$model_dir.fused" ]; then model_args=(--model "$model_dir.fused"); else model_args=(--model "$model_dir" --fuse); fi
      node --import tsx tools/bench/loop.ts "${model_args[@]}" --provider "$provider" --images "${LOOP_IMAGES:-1,8}" --runs "${LOOP_RUNS:-2}" \
        --per-call "${LOOP_PER_CALL:-5}" --size "${SIZE:-512}" --json "$out/loop-$shape-$provider.json" | tee "$out/loop-$shape-$provider.txt"
      ;;
    serve)
      model_dir=$(darkroom bench --build-only --shape "$shape" --dtype "$dtype" --models-dir "$models" | tail -n 1)
      node --import tsx tools/bench/serve.ts --model "$model_dir" --provider "$provider" --concurrency "${CONCURRENCY:-16}" \
        --batch-max "${CONCURRENCY:-16}" --rounds "${SERVE_ROUNDS:-2}" --size "${SIZE:-512}" --json "$out/serve-$shape-$provider.json" | tee "$out/serve-$shape-$provider.txt"
      ;;
    iobinding)
      model_dir=$(darkroom bench --build-only --shape "$shape" --dtype "$dtype" --models-dir "$models" | tail -n 1)
      node --import tsx tools/bench/io-binding.ts --model "$model_dir" --provider "$provider" --json "$out/iobinding-$shape-$provider.json"
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
        --modes "${COMPILE_MODES:-compile-reduce-overhead}" --batches "${COMPILE_BATCHES:-2,16}" --images "${COMPILE_IMAGES:-1,8}" --runs "$runs" \
        --json "$out/torch-$shape-compile.json" > /dev/null
      ;;
    combine)
      shopt -s nullglob
      files=("$out"/darkroom-"$shape"-*.json "$out"/torch-"$shape"-*.json)
      node --import tsx tools/bench/combine.ts "${files[@]}" > "$out/summary-$shape.md"
      for f in "$out"/loop-"$shape"-*.txt; do [ -s "$f" ] && printf '\nThe device loop against the per-step loop (tools/bench/loop.ts)\n\n%s\n' "$(cat "$f")" >> "$out/summary-$shape.md"; done
      for f in "$out"/serve-"$shape"-*.txt; do [ -s "$f" ] && printf '\nThe server under concurrent requests (tools/bench/serve.ts)\n\n```\n%s\n```\n' "$(cat "$f")" >> "$out/summary-$shape.md"; done
      cat "$out/summary-$shape.md"
      ;;
    *)
      echo "gpu.sh: unknown stage $1 (build, iobinding, darkroom, loop, serve, convert, webgpu, torch, torch-compile, combine, all)" >&2
      exit 2
      ;;
  esac
}

# Seconds each stage may take in `all`: together under the 8 minutes of one device call (torch.compile
# needs about 90 s per shape there, the server's first load makes the engine's fused twins).
limit_of() {
  case "$1" in
    build) echo "${LIMIT_BUILD:-40}" ;;
    iobinding) echo "${LIMIT_IOBINDING:-20}" ;;
    darkroom) echo "${LIMIT_DARKROOM:-90}" ;;
    loop) echo "${LIMIT_LOOP:-45}" ;;
    serve) echo "${LIMIT_SERVE:-70}" ;;
    torch) echo "${LIMIT_TORCH:-45}" ;;
    torch-compile) echo "${LIMIT_TORCH_COMPILE:-185}" ;;
    combine) echo "${LIMIT_COMBINE:-5}" ;;
    *) echo "${LIMIT_OTHER:-120}" ;;
  esac
}

# What was written since $1 (a stamp file), also under $OUT (the files a device call brings back).
copy_new() {
  if [ -n "${OUT:-}" ] && [ "$(cd "$OUT" && pwd)" != "$(cd "$out" && pwd)" ]; then
    find "$out" -maxdepth 1 -type f -newer "$1" -exec cp {} "$OUT"/ \;
  fi
}

[ -n "${OUT:-}" ] && mkdir -p "$OUT"
if [ "$stage" = all ]; then
  echo "gpu.sh all $shape, $(date -u +%FT%TZ)" >> "$out/stages-$shape.txt"
  for s in ${STAGES:-build darkroom loop serve torch torch-compile combine}; do
    stamp=$(mktemp)
    limit=$(limit_of "$s")
    t0=$(date +%s)
    # Its own process group under timeout, so a stage past its limit is stopped with its node or python children.
    rc=0
    OUT='' timeout -k 10 "$limit" bash "$0" "$s" "$shape" || rc=$?
    echo "$s: exit $rc after $(($(date +%s) - t0)) s (limit $limit s)$([ "$rc" = 124 ] && echo ', stopped at its limit')" | tee -a "$out/stages-$shape.txt"
    copy_new "$stamp"
    rm -f "$stamp"
  done
else
  stamp=$(mktemp)
  run_stage "$stage" "$shape" "${3:-}"
  copy_new "$stamp"
  rm -f "$stamp"
fi
