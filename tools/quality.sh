#!/usr/bin/env bash
# Randomness quality of the fastinit stream: fastinit.random_bits_ output piped
# to dieharder's full battery (dieharder -a, raw input on stdin).
#
# NOT run in CI: one configuration takes about an hour or more of CPU time.
# See docs/quality.md for what was run and the results.
#
# Usage:
#   tools/quality.sh [CONFIG ...]
#
# CONFIG is MODE:SEED[:K] with MODE one of (see tools/quality_stream.py)
#   seed:S       stream 0 of seed S
#   streams:S:K  word i of streams 0..K-1 of seed S, interleaved (neighbouring streams)
#   seeds:S:K    word i of stream 0 of seeds S..S+K-1, interleaved (neighbouring seeds)
# Default: seed:1 seed:2657756037186193186 streams:2657756037186193186:2 seeds:0:2
#
# Environment:
#   PYTHON        interpreter with fastinit installed (default: python3)
#   QUALITY_DIR   where logs and summary.md go (default: ./quality-logs)
#   QUALITY_REUSE 1: reuse a complete dieharder -a log (and re-run logs)
#                 already in QUALITY_DIR instead of running them again, e.g.
#                 to run configurations in parallel in one directory and then
#                 summarize them all (default 0)
#   QUALITY_RERUNS  re-runs allowed for a WEAK result (default 2)
#
# Re-run policy (dieharder calls a result WEAK when its p-value is < 0.005 or
# > 0.995, which a perfect generator does in about 1% of the ~114 results of
# -a, so about one WEAK per battery is expected):
#   - a WEAK result is re-run, the same dieharder test (and ntuple where the
#     test takes one) on the same configuration with another seed:
#     re-run r uses seed (S + 1000003 * r) mod 2**64 (for seeds:S:K the whole
#     block of K neighbouring seeds moves);
#   - it is reported "WEAK, re-run PASSED" as soon as a re-run PASSES;
#   - it counts as FAILED if a re-run FAILS, or if it is still WEAK after
#     QUALITY_RERUNS re-runs (chance about 1e-6 per result for a good generator);
#   - a FAILED result of the battery counts as FAILED, full stop; it is
#     re-run QUALITY_RERUNS times all the same (same seeds as above), and the
#     re-runs are reported, to tell a systematic failure from a rare one.
# Exit status: 0 when nothing FAILED (after the policy above), 1 otherwise,
# 2 on a usage or setup error.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python3}
QUALITY_DIR=${QUALITY_DIR:-./quality-logs}
QUALITY_REUSE=${QUALITY_REUSE:-0}
QUALITY_RERUNS=${QUALITY_RERUNS:-2}
STREAM="$here/quality_stream.py"
GEN=200   # dieharder's stdin_input_raw on 3.31.1 (check: dieharder -g -1)
LAST_TEST=dab_monobit2   # the last test of dieharder -a on 3.31.1: a log with it is complete

command -v dieharder > /dev/null || { echo "dieharder not found (Debian: apt-get install dieharder)" >&2; exit 2; }
"$PYTHON" -c "import fastinit" || { echo "$PYTHON cannot import fastinit" >&2; exit 2; }
dieharder -g -1 | grep -q "$GEN stdin_input_raw" || { echo "dieharder generator $GEN is not stdin_input_raw here; edit GEN" >&2; exit 2; }

if [ $# -eq 0 ]; then
    set -- seed:1 seed:2657756037186193186 streams:2657756037186193186:2 seeds:0:2
fi
mkdir -p "$QUALITY_DIR"
summary="$QUALITY_DIR/summary.md"

# Result lines of a dieharder log: "name ntup occurrence assessment p-value",
# one per line; occurrence counts lines with the same name and ntup (sts_serial
# prints two per ntup), so a re-run is compared with the matching line.
results() {
    awk -F'|' 'NF >= 6 && $6 ~ /PASSED|WEAK|FAILED/ {
        name = $1; gsub(/ /, "", name); nt = $2; gsub(/ /, "", nt)
        a = $6; gsub(/ /, "", a); p = $5; gsub(/ /, "", p)
        print name, nt, ++seen[name " " nt], a, p }' "$1"
}

# Tests whose -a run loops over ntuple values; a re-run of one passes -n NTUP.
takes_ntup() {
    case "$1" in rgb_bitdist|rgb_minimum_distance|rgb_permutations|rgb_lagged_sum) return 0 ;; esac
    return 1
}

shift_seed() {  # shift_seed S R -> (S + 1000003 R) mod 2**64
    "$PYTHON" -c "import sys; print((int(sys.argv[1]) + 1000003 * int(sys.argv[2])) % (1 << 64))" "$1" "$2"
}

{
    echo "# dieharder runs of fastinit.random_bits_"
    echo
    echo "- date: $(date -u +%FT%TZ)"
    echo "- $(dieharder -l 2>/dev/null | grep -o 'dieharder version [0-9.]*' | head -1)"
    echo "- machine: $(lscpu | grep 'Model name' | sed 's/^Model name: *//'), $(nproc) CPUs"
    echo "- fastinit $("$PYTHON" -c 'import fastinit; print(getattr(fastinit, "__version__", "?"))')"
    echo "- re-runs allowed per WEAK result: $QUALITY_RERUNS"
    echo
} > "$summary"

total_fail=0
for cfg in "$@"; do
    IFS=: read -r mode seed k <<< "$cfg"
    k=${k:-2}
    case "$mode" in seed) k=1 ;; streams|seeds) ;; *) echo "bad config $cfg" >&2; exit 2 ;; esac
    name="${mode}_${seed}_${k}"
    log="$QUALITY_DIR/$name.log"
    cmd="$PYTHON tools/quality_stream.py $mode $seed $k | dieharder -a -g $GEN"
    if [ "$QUALITY_REUSE" = 1 ] && [ -f "$log" ] && results "$log" | grep -q "^$LAST_TEST "; then
        echo "== $cfg: reusing $log" >&2
        started=$(cat "$log.start" 2>/dev/null || echo "?"); ended=$(cat "$log.end" 2>/dev/null || echo "?")
    else
        echo "== $cfg: $cmd" >&2
        started=$(date -u +%FT%TZ); echo "$started" > "$log.start"
        "$PYTHON" "$STREAM" "$mode" "$seed" "$k" | dieharder -a -g $GEN > "$log" 2>&1
        ended=$(date -u +%FT%TZ); echo "$ended" > "$log.end"
    fi
    res=$(results "$log")
    complete=yes
    echo "$res" | grep -q "^$LAST_TEST " || complete=no
    npass=$(echo "$res" | grep -c ' PASSED ' || true)
    nweak=$(echo "$res" | grep -c ' WEAK ' || true)
    nfail=$(echo "$res" | grep -c ' FAILED ' || true)
    cfg_fail=$nfail
    [ "$complete" = yes ] || cfg_fail=$((cfg_fail + 1))

    rerun_lines=""
    while read -r tname ntup occ assess p; do
        [ "$assess" = WEAK ] || [ "$assess" = FAILED ] || continue
        verdict="FAILED (still WEAK after $QUALITY_RERUNS re-runs)"
        [ "$assess" = FAILED ] && verdict="FAILED in the battery (counted as FAILED whatever the re-runs give)"
        for r in $(seq 1 "$QUALITY_RERUNS"); do
            s2=$(shift_seed "$seed" "$r")
            nopt=""; takes_ntup "$tname" && nopt="-n $ntup"
            rlog="$QUALITY_DIR/${name}.rerun_${tname}_${ntup}_$r.log"
            rcmd="$PYTHON tools/quality_stream.py $mode $s2 $k | dieharder -d $tname $nopt -g $GEN"
            if [ "$QUALITY_REUSE" = 1 ] && [ -f "$rlog" ] && results "$rlog" | grep -q "^$tname $ntup $occ "; then
                echo "   re-run $r of $tname ntup $ntup: reusing $rlog" >&2
            else
                echo "   re-run $r of $tname ntup $ntup (p = $p): $rcmd" >&2
                "$PYTHON" "$STREAM" "$mode" "$s2" "$k" | dieharder -d "$tname" $nopt -g $GEN > "$rlog" 2>&1
            fi
            line=$(results "$rlog" | awk -v t="$tname" -v n="$ntup" -v o="$occ" '$1 == t && $2 == n && $3 == o')
            ra=$(echo "$line" | awk '{print $4}'); rp=$(echo "$line" | awk '{print $5}')
            rerun_lines+="| $tname | $ntup | $p | $r | $s2 | \`${rcmd//|/\\|}\` | $rp | ${ra:-missing} |"$'\n'
            [ "$assess" = FAILED ] && continue   # informative only: run all re-runs
            if [ "$ra" = PASSED ]; then verdict="WEAK, re-run PASSED"; break; fi
            if [ "$ra" != WEAK ]; then verdict="FAILED (re-run ${ra:-gave no result})"; break; fi
        done
        # a FAILED of the battery is already in cfg_fail (nfail)
        case "$assess:$verdict" in WEAK:FAILED*) cfg_fail=$((cfg_fail + 1)) ;; esac
        rerun_lines+="| $tname | $ntup | | | | verdict | | $verdict |"$'\n'
    done <<< "$res"
    total_fail=$((total_fail + cfg_fail))

    {
        echo "## $cfg"
        echo
        echo "- command: \`$cmd\`"
        echo "- ran: $started to $ended"
        echo "- complete battery: $complete"
        echo "- battery: $npass PASSED, $nweak WEAK, $nfail FAILED; after re-runs: $cfg_fail FAILED"
        echo
        echo '```'
        grep -E '^ *(test_name|[a-z_0-9]+)\|' "$log" | grep -v rng_name | grep -v stdin_input_raw
        echo '```'
        echo
        if [ -n "$rerun_lines" ]; then
            echo "Re-runs of WEAK and FAILED results:"
            echo
            echo "| test | ntup | p (battery) | re-run | seed | command | p | assessment |"
            echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
            printf '%s' "$rerun_lines"
            echo
        fi
    } >> "$summary"
    echo "   $npass PASSED, $nweak WEAK, $nfail FAILED; after re-runs $cfg_fail FAILED" >&2
done

echo "Total FAILED after re-runs: $total_fail" >> "$summary"
cat "$summary"
[ "$total_fail" -eq 0 ]
