#!/usr/bin/env bash
# The builds users install: make the sdist and the wheel from the committed
# tree (HEAD) with `python -m build`, check what the sdist holds, print
# `auditwheel show` for the wheel, then install the wheel (not the source
# tree) with the test extra into a fresh virtual environment and run the
# tests against it, from outside the source tree.
#
#   sh tools/check_wheel.sh            # the kernel and API test modules (about 2 minutes of tests)
#   sh tools/check_wheel.sh --full     # the whole suite (torch-dependent modules skip: no torch there)
#
# Exits non-zero on a missing or generated file in the sdist, a failed build,
# an import that does not come from the installed wheel, or a failed test.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
full=0
[ "${1:-}" = "--full" ] && full=1
work=$(mktemp -d "${TMPDIR:-/tmp}/fastinit-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
python=${PYTHON:-python3}

mkdir "$work/src"
git -C "$root" archive HEAD | tar -x -C "$work/src"
"$python" -m venv "$work/build-venv"
"$work/build-venv/bin/python" -m pip install --quiet --upgrade pip
"$work/build-venv/bin/python" -m pip install --quiet build auditwheel
echo "== python -m build"
"$work/build-venv/bin/python" -m build --outdir "$work/dist" "$work/src" > "$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; echo "check_wheel: the build failed" >&2; exit 1; }
sdist=$(ls "$work"/dist/*.tar.gz)
wheel=$(ls "$work"/dist/*.whl)
echo "sdist: $(basename "$sdist")  wheel: $(basename "$wheel")"

echo "== what the sdist holds"
tar -tzf "$sdist" | sed 's|^[^/]*/||' | sort > "$work/sdist.txt"
missing=0
for f in $(cd "$work/src" && ls csrc/*.c csrc/*.h fastinit/*.pyx fastinit/*.pxd) setup.py pyproject.toml \
         MANIFEST.in README.md LICENSE tests/reference.py tests/_stats.py tests/data/golden.json; do
    grep -qx "$f" "$work/sdist.txt" || { echo "check_wheel: the sdist lacks $f" >&2; missing=1; }
done
generated=$(grep -E '(^fastinit/_kernels\.c$|\.so$|\.o$|\.pyc$|^build/)' "$work/sdist.txt" || true)
if [ -n "$generated" ]; then
    echo "check_wheel: the sdist holds generated files: $generated" >&2
    missing=1
fi
[ "$missing" = 0 ] || exit 1
echo "$(wc -l < "$work/sdist.txt") entries: every C source and header, the .pyx and .pxd, the tests; nothing generated"

echo "== auditwheel show"
"$work/build-venv/bin/auditwheel" show "$wheel" || echo "check_wheel: auditwheel could not read the wheel" >&2

echo "== a fresh venv with the wheel"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet "$wheel[test]"
cd "$work"
where=$("$work/venv/bin/python" -c "import fastinit, os; print(os.path.dirname(fastinit.__file__))")
case "$where" in
    "$work/venv/"*) echo "fastinit imports from $where" ;;
    *) echo "check_wheel: fastinit imports from $where, not the installed wheel" >&2; exit 1 ;;
esac
if [ "$full" = 1 ]; then
    "$work/venv/bin/pytest" -q -p no:cacheprovider "$work/src/tests"
else
    t="$work/src/tests"
    "$work/venv/bin/pytest" -q -p no:cacheprovider "$t/test_golden.py" "$t/test_bitwise.py" "$t/test_fill.py" \
        "$t/test_errors.py" "$t/test_alloc.py" "$t/test_structured.py" "$t/test_prune.py" "$t/test_reliability.py"
fi
echo "check_wheel passed"
