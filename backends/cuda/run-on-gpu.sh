#!/bin/sh
# run-on-gpu.sh - on a machine with an NVIDIA GPU (driver >= the toolkit's major version,
# nvcc on PATH or in /usr/local/cuda): build xhal with the CUDA backend, then run the
# unit tests, xhal-info, the conformance suite, the collectives through NCCL (every GPU of the
# machine in one communicator), the tensor-parallel model port (TP=2 in one process and under
# mpirun) and the benchmarks on the GPU, keeping
# every output under OUT.
#
#   backends/cuda/run-on-gpu.sh [BUILD_DIR [OUT_DIR]]
#
# Environment: XHAL_GPU_DEVICE (default cuda:0), XHAL_CUDA_ARCHS (e.g. "80;90;100", default
# the CMake cache's 80;89;90), JOBS (default nproc), XHAL_CMAKE_ARGS (extra cmake args).
# Exit status: 0 when every step passed, 1 otherwise (all steps run regardless).
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$SRC/build-gpu}
OUT=${2:-$BUILD/gpu-results}
DEV=${XHAL_GPU_DEVICE:-cuda:0}
JOBS=${JOBS:-$(nproc)}
ARCHS=${XHAL_CUDA_ARCHS:+-DXHAL_CUDA_ARCHS=$XHAL_CUDA_ARCHS}
PATH=$PATH:/usr/local/cuda/bin
status=0
step() { echo "== $*"; }
fail() { echo "!! $*"; status=1; }

mkdir -p "$OUT" || exit 1
step "configure + build ($BUILD)"
# shellcheck disable=SC2086
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXHAL_WERROR=ON \
      -DXHAL_BACKEND_CUDA=ON $ARCHS ${XHAL_CMAKE_ARGS:-} > "$OUT/cmake.log" 2>&1 \
  || { cat "$OUT/cmake.log"; echo "!! cmake failed"; exit 1; }
cmake --build "$BUILD" -j "$JOBS" > "$OUT/build.log" 2>&1 \
  || { tail -50 "$OUT/build.log"; echo "!! build failed"; exit 1; }

step "machine"
{ nvidia-smi; nvidia-smi topo -m; } > "$OUT/nvidia-smi.txt" 2>&1 || echo "(nvidia-smi not available)"
"$BUILD/bin/xhal-info" | tee "$OUT/xhal-info.txt" || fail "xhal-info"
"$BUILD/bin/xhal-info" --json > "$OUT/xhal-info.json" 2>&1 || true
# The backend must be loaded with a device; otherwise xhal-info above shows its reason.
grep -q "^ *$DEV\b\|\"$DEV\"" "$OUT/xhal-info.txt" "$OUT/xhal-info.json" 2>/dev/null \
  || fail "device $DEV not listed by xhal-info (see the cuda backend's reason above)"

step "unit tests (ctest)"
(cd "$BUILD" && ctest --output-on-failure -j "$JOBS") > "$OUT/ctest.log" 2>&1 \
  || { tail -40 "$OUT/ctest.log"; fail "ctest"; }
tail -3 "$OUT/ctest.log"

step "conformance on $DEV (report in $OUT/conform)"
"$BUILD/bin/xhal-conform" --device "$DEV" --suite all --report "$OUT/conform" \
  > "$OUT/conform.log" 2>&1 || fail "xhal-conform (see $OUT/conform/report.md)"
tail -15 "$OUT/conform.log"
# The same with TF32 GEMMs allowed, matmul only, to see what the tolerance makes of it.
XHAL_CUDA_ALLOW_TF32=1 "$BUILD/bin/xhal-conform" --device "$DEV" --suite ops --filter '^matmul/' \
  --report "$OUT/conform-tf32" > "$OUT/conform-tf32.log" 2>&1 || echo "(TF32 matmul run: see $OUT/conform-tf32)"
# Without cuBLAS: the portable matmul kernel on the GPU.
XHAL_CUDA_CUBLAS_LIBRARY=none "$BUILD/bin/xhal-conform" --device "$DEV" --suite ops --filter '^matmul/' \
  --report "$OUT/conform-no-cublas" > "$OUT/conform-no-cublas.log" 2>&1 || fail "portable matmul kernel"

# Collectives: every GPU of the backend in one communicator, through NCCL (libnccl.so.2 must be
# installed; otherwise the communicator falls back to the host engine and the log says why).
step "collectives through NCCL on every ${DEV%%:*} device ($OUT/collectives)"
"$BUILD/bin/xhal-info" --topology > "$OUT/xhal-info-topology.txt" 2>&1 || true
grep -A20 "^Collective engines" "$OUT/xhal-info-topology.txt" || true
"$BUILD/bin/xhal-conform" --suite collectives --quiet --report "$OUT/collectives" \
  > "$OUT/collectives.log" 2>&1 || fail "xhal-conform --suite collectives"
grep -E "^== |collectives:" "$OUT/collectives.log"
grep -q "engine nccl" "$OUT/collectives.log" || fail "no communicator used NCCL (see $OUT/collectives.log)"
"$BUILD/bin/xhal-bench" --suite collectives --device "$DEV" --device "${DEV%%:*}:1" \
  --json "$OUT/bench-collectives.json" > "$OUT/bench-collectives.log" 2>&1 \
  || echo "(collectives bench needs two ${DEV%%:*} devices: see $OUT/bench-collectives.log)"
tail -20 "$OUT/bench-collectives.log"

# The tensor-parallel model port (conformance/MODELS.md): TP=2 over two GPUs of the backend in one
# process (their common engine: NCCL when installed, else the host engine), and over 2 processes
# under mpirun when it is installed, against the one-device run: the same greedy ids, logits within
# the documented bound (f32: 1e-4 of the largest; npy_close). With one GPU, both ranks on $DEV.
step "tensor-parallel model port, TP=2 ($OUT/tp)"
mkdir -p "$OUT/tp"
MODEL=$SRC/conformance/models/llama/reference/tiny-llama-f32
TOKS=1,17,42,99,123,7,250,33,5,181
TP_DEVS=$DEV
grep -q "${DEV%%:*}:1" "$OUT/xhal-info.txt" 2>/dev/null && TP_DEVS="$DEV,${DEV%%:*}:1"
"$BUILD/bin/xhal-run" --model "$MODEL" --device "$DEV" --tokens $TOKS --generate 16 \
  --logits-out "$OUT/tp/one.npy" > "$OUT/tp/one.txt" 2> "$OUT/tp/one.log" || fail "xhal-run on $DEV"
"$BUILD/bin/xhal-run" --model "$MODEL" --device "$TP_DEVS" --tp 2 --tokens $TOKS --generate 16 \
  --logits-out "$OUT/tp/tp.npy" > "$OUT/tp/tp.txt" 2> "$OUT/tp/tp.log" || fail "xhal-run --tp 2 on $TP_DEVS"
cat "$OUT/tp/one.txt" "$OUT/tp/tp.txt" "$OUT/tp/tp.log"
cmp -s "$OUT/tp/one.txt" "$OUT/tp/tp.txt" || fail "TP=2 greedy ids differ from one device"
"$BUILD/bin/npy_close" "$OUT/tp/tp.npy" "$OUT/tp/one.npy" 1e-4 || fail "TP=2 logits outside the bound"
if command -v mpirun > /dev/null 2>&1; then
  mpirun --allow-run-as-root --oversubscribe -np 2 "$BUILD/bin/xhal-run" --model "$MODEL" --device "$TP_DEVS" --tp 2 \
    --tokens $TOKS --generate 16 --logits-out "$OUT/tp/mpi.npy" > "$OUT/tp/mpi.txt" 2> "$OUT/tp/mpi.log" \
    || fail "mpirun -np 2 xhal-run --tp 2"
  cat "$OUT/tp/mpi.txt" "$OUT/tp/mpi.log"
  cmp -s "$OUT/tp/one.txt" "$OUT/tp/mpi.txt" || fail "TP=2 under mpirun: greedy ids differ from one device"
  "$BUILD/bin/npy_close" "$OUT/tp/mpi.npy" "$OUT/tp/one.npy" 1e-4 || fail "TP=2 under mpirun: logits outside the bound"
else
  echo "(mpirun not installed: TP across processes not run)"
fi

step "benchmarks on $DEV ($OUT/bench.json)"
if [ -x "$BUILD/bin/xhal-bench" ]; then
  "$BUILD/bin/xhal-bench" --device "$DEV" --json "$OUT/bench.json" > "$OUT/bench.log" 2>&1 \
    || fail "xhal-bench"
  tail -20 "$OUT/bench.log"
else
  fail "xhal-bench was not built"
fi

echo "== results in $OUT (status $status)"
exit $status
