#!/usr/bin/env bash
# Memory and thread errors in the C kernels, without Python: build the driver
# csrc/tests/driver.c with csrc/*.c and run it
#   1. under valgrind memcheck (--error-exitcode=1 --leak-check=full), at the
#      scalar and AVX2 levels (valgrind cannot run AVX-512 code; --quick
#      sizes, thread counts 1 and 3: valgrind runs one thread at a time);
#   2. built with -fsanitize=thread, at every level this CPU has and thread
#      counts 1, 2, 3, 8 (no report allowed: TSAN_OPTIONS=halt_on_error=1).
# The driver compares every result bit for bit with the one-thread scalar
# kernel and checks guard bytes around every output.  Exits non-zero on any
# report, difference or overrun.
#
#   bash tools/check_memory.sh [valgrind|tsan|all]     # default: all
#
# Builds in a temporary directory; the source tree is only read.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-all}
CC=${CC:-gcc}
case "$MODE" in valgrind|tsan|all) ;; *) echo "usage: $0 [valgrind|tsan|all]" >&2; exit 2 ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastinit-memcheck.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# the sources and C flags of setup.py's x86-64 build (-g for the reports)
LIB=(csrc/fi_fill.c csrc/fi_runtime.c csrc/fi_alloc.c csrc/fi_prune.c csrc/fi_wrap.c)
DEFS=()
case "$(uname -m)" in
    x86_64|amd64) LIB+=(csrc/fi_avx2.c csrc/fi_avx512.c); DEFS+=(-DFI_HAVE_X86_SIMD=1) ;;
    aarch64|arm64) LIB+=(csrc/fi_neon.c); DEFS+=(-DFI_HAVE_NEON=1) ;;
esac
CFLAGS=(-g -std=c11 -ffp-contract=off -fno-math-errno -pthread -Wall -Wextra "${DEFS[@]}" -Icsrc)

build() {   # build OUTPUT EXTRA_FLAGS...: one object per source, in parallel
    local out=$1; shift
    local dir="$WORK/obj-$(basename "$out")"
    mkdir -p "$dir"
    local pids=() src
    for src in "${LIB[@]}" csrc/tests/driver.c; do
        "$CC" "${CFLAGS[@]}" "$@" -c "$src" -o "$dir/$(basename "$src" .c).o" & pids+=($!)
    done
    local p rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    [ "$rc" -eq 0 ] || { echo "build of $out FAILED"; exit 1; }
    "$CC" -pthread "$@" "$dir"/*.o -lm -o "$out"
}

status=0
if [ "$MODE" = valgrind ] || [ "$MODE" = all ]; then
    command -v valgrind >/dev/null || { echo "valgrind not installed (apt-get install valgrind)"; exit 1; }
    echo "== valgrind memcheck: building the driver (-O3, as setup.py)"
    build "$WORK/driver" -O3
    # scalar and avx2 where the CPU has AVX2 (valgrind cannot run AVX-512)
    if [ "$(uname -m)" = x86_64 ] && grep -qw avx2 /proc/cpuinfo; then levels=scalar,avx2; else levels=scalar; fi
    start=$SECONDS
    if valgrind -q --error-exitcode=1 --leak-check=full \
            "$WORK/driver" --quick --levels "$levels" --threads 1,3; then
        echo "== valgrind memcheck: no error ($((SECONDS - start)) s)"
    else
        echo "== valgrind memcheck FAILED"; status=1
    fi
fi
if [ "$MODE" = tsan ] || [ "$MODE" = all ]; then
    echo "== ThreadSanitizer: building the driver (-O1 -fsanitize=thread)"
    build "$WORK/driver-tsan" -O1 -fno-omit-frame-pointer -fsanitize=thread
    start=$SECONDS
    if TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
            "$WORK/driver-tsan" --quick --threads 1,2,3,8; then
        echo "== ThreadSanitizer: no report ($((SECONDS - start)) s)"
    else
        echo "== ThreadSanitizer FAILED"; status=1
    fi
fi
if [ "$status" -ne 0 ]; then
    echo "memory/thread check FAILED"
    exit 1
fi
echo "memory/thread check passed"
