#!/usr/bin/env bash
# The same bits from every build: build fastinit._kernels three ways (-O0;
# the default, -O3; -O3 -march=native) in temporary copies of the
# repository's files, compute the golden table's digests (tests/golden_cases.py)
# with each build at every SIMD level this CPU has, and check that every one
# equals tests/data/golden.json.  Exits non-zero on any difference.
#
#   bash tools/check_builds.sh
#
# Needs an interpreter with numpy, Cython, setuptools and ml_dtypes: $PYTHON,
# else `python`.  The source tree and the caller's environment are not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastinit-builds.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/src"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$WORK/src"

# name and FASTINIT_OPT (setup.py: replaces -O3; -ffp-contract=off stays)
BUILDS=("O0:-O0" "default:" "native:-O3 -march=native")

for b in "${BUILDS[@]}"; do
    name=${b%%:*} opt=${b#*:}
    dir="$WORK/$name"
    cp -a "$WORK/src" "$dir"
    # the Cython output does not depend on the C flags: reuse the first one
    [ -e "$WORK/_kernels.c" ] && cp -p "$WORK/_kernels.c" "$dir/fastinit/_kernels.c"
    start=$SECONDS
    if [ -n "$opt" ]; then
        (cd "$dir" && FASTINIT_OPT="$opt" "$PY" setup.py -q build_ext --inplace >"$dir/build.log" 2>&1) || {
            tail -30 "$dir/build.log"; echo "build $name FAILED"; exit 1; }
    else
        (cd "$dir" && env -u FASTINIT_OPT "$PY" setup.py -q build_ext --inplace >"$dir/build.log" 2>&1) || {
            tail -30 "$dir/build.log"; echo "build $name FAILED"; exit 1; }
    fi
    [ -e "$WORK/_kernels.c" ] || cp -p "$dir/fastinit/_kernels.c" "$WORK/_kernels.c"
    echo "== build $name (FASTINIT_OPT='${opt:-default -O3}'): $((SECONDS - start)) s"
    # digests at every level, run outside the trees so that this copy is imported
    (cd "$WORK" && PYTHONPATH="$dir" env -u FASTINIT_SIMD -u FASTINIT_NUM_THREADS "$PY" - "$dir" \
        >"$WORK/$name.json") <<'PYEOF'
import json
import os
import sys

build = sys.argv[1]
sys.path.insert(0, os.path.join(build, "tests"))
import fastinit  # noqa: E402
from fastinit import _kernels  # noqa: E402
from golden_cases import cases, digest  # noqa: E402

assert os.path.abspath(fastinit.__file__).startswith(build + os.sep), fastinit.__file__
levels = _kernels.LEVELS[: _kernels.LEVELS.index(_kernels.detected_simd_level()) + 1]
out = {}
for level in levels:
    _kernels.set_simd_level(level)
    out[level] = {cid: digest(make()) for cid, make in cases()}
json.dump(out, sys.stdout)
PYEOF
done

"$PY" - "$WORK" tests/data/golden.json "${BUILDS[@]%%:*}" <<'PYEOF'
import json
import sys

work, golden_path, names = sys.argv[1], sys.argv[2], sys.argv[3:]
want = json.load(open(golden_path))["sha256"]
bad = 0
for name in names:
    got = json.load(open(f"{work}/{name}.json"))
    for level, table in got.items():
        diff = sorted(cid for cid in want if table.get(cid) != want[cid])
        extra = sorted(set(table) - set(want))
        status = "equal" if not diff and not extra else f"{len(diff)} DIFFERENT"
        print(f"  {name:8s} {level:7s}: {len(table)} digests, {status} to tests/data/golden.json")
        for cid in diff[:5]:
            print(f"    DIFFERENT {cid}")
        bad += len(diff) + len(extra)
if bad:
    print("builds check FAILED: the builds do not give the same bits")
    sys.exit(1)
print("builds check passed: -O0, the default and -O3 -march=native give the golden bits at every level")
PYEOF
