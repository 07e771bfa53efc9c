#!/bin/sh
# Builds every tests/fuzz/fuzz_*.c with libFuzzer, ASan and UBSan into
# build/fuzz/ and runs each for SECONDS (default 60); fails on a crash, a
# leak or a build error. Conventions of a target file:
#   line 1:  /* fuzz-sources: proxy/a.c protocol/b.c */  project sources to link
#   line 2-5 (optional): /* fuzz-seeds: DIR ... */  seed SQL: every .sql file in
#            DIR is cut into one seed per corpus case
# Usage: sh tests/fuzz/run.sh SECONDS
set -u
secs=${1:-60}
cd "$(dirname "$0")/../.." || exit 1
out=build/fuzz
mkdir -p "$out"
cc=${FUZZ_CC:-clang}
pkgs="libuv libssl libcrypto inih libpq"
cflags="-g -O1 -std=c11 -D_GNU_SOURCE -I. -fno-omit-frame-pointer
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
    $(pkg-config --cflags $pkgs 2>/dev/null)"
libs="$(pkg-config --libs $pkgs 2>/dev/null) -lpg_query -lm"

# Writes the SQL of each case of a corpus file to its own seed file.
cut_seeds() {
    awk -v dir="$2" -v base="$(basename "$1" .sql)" '
        function flush() {
            if (sql != "") { n++; f = dir "/" base "-" n ".sql"; printf "%s", sql > f; close(f) }
            sql = ""
        }
        /^-- (expect|case|search_path|user|target|procedure):/ { flush(); next }
        { sql = sql $0 "\n" }
        END { flush() }' "$1"
}

status=0
for target in tests/fuzz/fuzz_*.c; do
    [ -e "$target" ] || continue
    name=$(basename "$target" .c)
    # the comment opens on line 1; a formatter may have wrapped its end
    srcs=$(awk 'NR == 1 && !/^\/\* *fuzz-sources:/ { exit }
        { s = s " " $0 } /\*\// { print s; exit }' "$target" |
        sed -n 's|^ */\* *fuzz-sources: *\(.*[^ ]\) *\*/ *$|\1|p')
    if [ -z "$srcs" ]; then
        echo "FAIL $name: line 1 must be /* fuzz-sources: ... */"
        status=1
        continue
    fi
    # shellcheck disable=SC2086
    if ! $cc $cflags -o "$out/$name" "$target" $srcs $libs; then
        echo "FAIL $name: build"
        status=1
        continue
    fi
    corpus="$out/corpus/$name"
    mkdir -p "$corpus"
    seeds=$(head -n 5 "$target" | sed -n 's|^/\* *fuzz-seeds: *\(.*[^ ]\) *\*/ *$|\1|p')
    for dir in $seeds; do
        for f in "$dir"/*.sql; do
            [ -e "$f" ] && cut_seeds "$f" "$corpus"
        done
    done
    log="$out/$name.log"
    if "$out/$name" -max_total_time="$secs" -max_len=8192 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/$name-" \
        "$corpus" >"$log" 2>&1; then
        echo "ok $name: $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") runs" \
            "in ${secs}s"
    else
        echo "FAIL $name: see $log"
        grep -E "ERROR|SUMMARY|differ|matches no target" "$log" | head -n 20
        status=1
    fi
done
exit $status
