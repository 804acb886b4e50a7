#!/usr/bin/env bash
# reliability.sh - the reliability checks of RELIABILITY.md, bounded for CI (2 cores):
#   1. ThreadSanitizer build (clang, -DXHAL_SANITIZE=thread): test_threads, test_bad_inputs,
#      test_fault_walk; any ThreadSanitizer report fails.
#   2. libFuzzer build (clang, address,undefined + XHAL_FUZZ=ON): each target for
#      FUZZ_SECONDS (default 45) from its committed seed corpus; any crash fails.
#   3. valgrind memcheck (--error-exitcode=1 --leak-check=full) over xhal-info, a short
#      xhal-conform --device cpu:0 --filter run and xhal-run on the reference model.
# Every step runs under `timeout`. Environment: BUILD_ROOT (default: the repository root;
# build folders build-tsan, build-fuzz, build-rel beneath it), JOBS (default 2),
# FUZZ_SECONDS (45), SKIP_TSAN / SKIP_FUZZ / SKIP_VALGRIND (=1 to skip a part).
# Exit status 0 when every part passed; the summary lists each step's result and time.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_ROOT=${BUILD_ROOT:-$ROOT}
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-45}
LOGDIR=${LOGDIR:-$BUILD_ROOT/build-reliability-logs}  # /build*/ is git-ignored
mkdir -p "$LOGDIR"
CMAKE_COMMON=(-G Ninja -DXHAL_BACKEND_CUDA=OFF -DXHAL_BACKEND_OPENCL=OFF -DXHAL_BACKEND_HIP=OFF)
FAILED=0
SUMMARY=()
T0=$(date +%s)

# step NAME TIMEOUT_S CMD...: run with a time limit, log to $LOGDIR/NAME.log, record the result.
step() {
    local name=$1 limit=$2
    shift 2
    local t=$(date +%s)
    echo "== $name (limit ${limit}s)"
    timeout --kill-after=10 "$limit" "$@" > "$LOGDIR/$name.log" 2>&1
    local rc=$?
    local dt=$(( $(date +%s) - t ))
    if [ $rc -eq 0 ]; then
        SUMMARY+=("PASS  $name (${dt}s)")
    else
        [ $rc -eq 124 ] && echo "   timed out after ${limit}s"
        tail -n 30 "$LOGDIR/$name.log"
        SUMMARY+=("FAIL  $name (rc $rc, ${dt}s, log $LOGDIR/$name.log)")
        FAILED=1
    fi
    return $rc
}

# ---- 1. ThreadSanitizer -------------------------------------------------------------------
if [ "${SKIP_TSAN:-0}" != 1 ]; then
    B=$BUILD_ROOT/build-tsan
    if step tsan-build 900 env CC=clang CXX=clang++ bash -c "cmake -S '$ROOT' -B '$B' ${CMAKE_COMMON[*]} \
            -DXHAL_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXHAL_BUILD_TOOLS=OFF && \
            ninja -C '$B' -j$JOBS test_threads test_bad_inputs test_fault_walk xhal-cpu xhal-test-testdev"; then
        # a race shows only when the threads interleave just so: test_threads runs 3 times
        for t in test_threads test_threads.2 test_threads.3 test_bad_inputs test_fault_walk; do
            # halt_on_error: the first report ends the run with a non-zero status
            step "tsan-$t" 300 env XHAL_PLUGIN_PATH= XHAL_TOPOLOGY_XML= \
                TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" "$B/bin/${t%%.*}"
            if grep -q "ThreadSanitizer" "$LOGDIR/tsan-$t.log"; then
                echo "   ThreadSanitizer report in tsan-$t"
                SUMMARY+=("FAIL  tsan-$t: ThreadSanitizer report")
                FAILED=1
            fi
        done
        grep -h "^test_threads: [0-9]* threads" "$LOGDIR/tsan-test_threads.log" || true
    fi
fi

# ---- 2. fuzzing ---------------------------------------------------------------------------
if [ "${SKIP_FUZZ:-0}" != 1 ]; then
    B=$BUILD_ROOT/build-fuzz
    TARGETS="fuzz_safetensors fuzz_gguf fuzz_llama_config fuzz_vectors fuzz_views"
    if step fuzz-build 900 env CC=clang CXX=clang++ bash -c "cmake -S '$ROOT' -B '$B' ${CMAKE_COMMON[*]} \
            -DXHAL_SANITIZE=address,undefined -DXHAL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DXHAL_BUILD_TESTS=OFF -DXHAL_BUILD_TOOLS=OFF && ninja -C '$B' -j$JOBS $TARGETS xhal-cpu"; then
        for f in $TARGETS; do
            # work on a copy: the committed seed corpus stays as it is
            W=$B/fuzz-work/$f
            rm -rf "$W" && mkdir -p "$W/corpus" "$W/artifacts"
            cp "$ROOT/fuzz/corpus/$f/"* "$W/corpus/"
            step "$f" $((FUZZ_SECONDS + 120)) env XHAL_PLUGIN_PATH= ASAN_OPTIONS=detect_leaks=1 \
                "$B/bin/$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
                -print_final_stats=1 -artifact_prefix="$W/artifacts/" "$W/corpus"
            n=$(grep -h "stat::number_of_executed_units" "$LOGDIR/$f.log" | awk '{print $2}')
            echo "   $f: ${n:-?} executions in ${FUZZ_SECONDS}s"
            SUMMARY+=("      $f: ${n:-?} executions")
        done
    fi
fi

# ---- 3. valgrind memcheck -----------------------------------------------------------------
if [ "${SKIP_VALGRIND:-0}" != 1 ]; then
    B=$BUILD_ROOT/build-rel
    VG=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible)
    REF=$ROOT/conformance/models/llama/reference/tiny-llama-f32
    FILTER='^(add/f32/(n17|bcast_row_17x33)|softmax/f32/(3x17|causal_kv_3x5x9)|rms_norm/f32/3x127_w|matmul/f32/(3x17x5|batch_2x3_5x17x7_bcast_b)|attention/f32/gqa_2x4x2_sq7_sk7_d32_causal)$'
    # (a fresh folder gets the default RelWithDebInfo; an existing one keeps its build type)
    if step valgrind-build 900 bash -c "cmake -S '$ROOT' -B '$B' ${CMAKE_COMMON[*]} && \
            ninja -C '$B' -j$JOBS xhal-info xhal-conform xhal-run xhal-cpu"; then
        # one worker thread: valgrind serializes threads anyway, and OpenBLAS's pool is quieter
        export XHAL_PLUGIN_PATH= XHAL_CPU_THREADS=1 OPENBLAS_NUM_THREADS=1
        step valgrind-xhal-info 300 "${VG[@]}" "$B/bin/xhal-info"
        step valgrind-xhal-conform 600 "${VG[@]}" "$B/bin/xhal-conform" --no-isolate --device cpu:0 --suite ops \
            --filter "$FILTER" --report "$B/reliability-conform" --quiet
        step valgrind-xhal-run 300 "${VG[@]}" "$B/bin/xhal-run" --model "$REF" --tokens 1,17,42,99 \
            --generate 4 --quiet
        unset XHAL_CPU_THREADS OPENBLAS_NUM_THREADS
    fi
fi

echo
echo "reliability.sh summary ($(( $(date +%s) - T0 ))s in all; logs in $LOGDIR):"
printf '  %s\n' "${SUMMARY[@]}"
exit $FAILED
