#!/bin/sh
# Runs each unit test binary given as an argument, with a 120 s limit each,
# prints its output and sums the "N passed, M failed" lines into one total.
# Exits non-zero if any binary failed, crashed, timed out or printed no total.

total_pass=0
total_fail=0
bad=0
out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT INT TERM

for bin in "$@"; do
    echo "== $bin"
    timeout 120 "$bin" >"$out" 2>&1
    rc=$?
    cat "$out"
    # The last total line counts: sanitizer reports may follow it.
    last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    p=$(echo "$last" | sed -n 's/^\([0-9]*\) passed, .*/\1/p')
    f=$(echo "$last" | sed -n 's/.* passed, \([0-9]*\) failed$/\1/p')
    if [ -z "$p" ] || [ -z "$f" ]; then
        # A crash or timeout leaves no total: count the binary as one failure.
        echo "$bin: no result line (exit status $rc)"
        p=0
        f=1
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "$bin: exit status $rc"
        f=1
    fi
    [ "$rc" -eq 124 ] && echo "$bin: timed out after 120 s"
    [ "$rc" -ne 0 ] && bad=1
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
done

echo "$total_pass passed, $total_fail failed"
[ "$bad" -eq 0 ] && [ "$total_fail" -eq 0 ]
