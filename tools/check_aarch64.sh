#!/bin/sh
# The NEON kernels, verified without an ARM machine: cross-compile the C
# kernels for AArch64 with a small driver (tools/aarch64/driver.c), run it
# under qemu-aarch64, and check (1) that the NEON kernels give the golden
# table's digests (tests/data/golden.json) and (2) that NEON and the scalar
# path agree bit for bit over every fill and output at odd lengths and
# offsets.  Exits non-zero on any difference.  Speed cannot be measured this
# way (qemu emulates the instructions).
#
#   sh tools/check_aarch64.sh            # from the repository root, with fastinit importable
#   sh tools/check_aarch64.sh --install  # only install the tools (CI, before the tests)
#
# Installs gcc-aarch64-linux-gnu and qemu-user from Debian's packages when
# they are missing (needs root, as in CI).
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
CC=aarch64-linux-gnu-gcc
if ! command -v "$CC" >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1; then
    echo "installing the AArch64 cross compiler and qemu-user from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
fi
if [ "${1:-}" = "--install" ]; then
    exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# the same C flags as setup.py, and the same sources as its aarch64 build
$CC -O3 -std=c11 -ffp-contract=off -fno-math-errno -pthread -static -Wall -Wextra -Werror \
    -DFI_HAVE_NEON=1 -Icsrc tools/aarch64/driver.c csrc/fi_fill.c csrc/fi_runtime.c csrc/fi_neon.c \
    csrc/fi_wrap.c -lm -o "$WORK/driver"
"$PY" tools/aarch64/cases.py > "$WORK/cases.txt"
status=0
qemu-aarch64 "$WORK/driver" < "$WORK/cases.txt" > "$WORK/out.txt" || status=$?
grep -v '^golden ' "$WORK/out.txt" || true
"$PY" - "$WORK/out.txt" <<'PYEOF' || status=1
import json, sys
got = dict(line.split()[1:3] for line in open(sys.argv[1]) if line.startswith("golden "))
table = json.load(open("tests/data/golden.json"))
want = table["sha256"]
bad = [cid for cid in got if got[cid] != want.get(cid)]
missing = [cid for cid in want if cid not in got]
print(f"golden: {len(got)} of {len(want)} digests from the NEON kernels (stream version "
      f"{table['stream_version']}), {len(bad)} different")
for cid in bad[:10]:
    print(f"DIFFERENT {cid}")
if missing:
    print(f"not checked (no ml_dtypes for bfloat16 here?): {len(missing)}")
sys.exit(1 if bad or not got or len(missing) > sum('/bfloat16/' in c for c in want) else 0)
PYEOF
if [ "$status" -ne 0 ]; then
    echo "AArch64 check FAILED"
    exit 1
fi
echo "AArch64 check passed"
