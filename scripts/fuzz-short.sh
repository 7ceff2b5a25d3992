#!/usr/bin/env bash
# Runs every Go fuzz target under signingcore for a few seconds each, one
# target at a time (go test -fuzz takes one package and one target), and
# fails when any target finds a crasher or does not build. Meant for CI:
# with 5 targets it takes about a minute and a half on 2 cores.
#
#   scripts/fuzz-short.sh                 # every Fuzz* under ./signingcore/...
#   scripts/fuzz-short.sh ./signingcore/pades
#   FUZZTIME=30s scripts/fuzz-short.sh    # longer runs
#
# Go 1.26 has a race in its fuzzing coordinator (go.dev/issue/75804, fixed
# in Go 1.27): when -fuzztime runs out, a target can end with a bare
# "context deadline exceeded" failure although nothing failed. Such a run
# (that message as the only failure and no new file in testdata/fuzz) is
# reported as "ok*", not as a failure; anything else that exits non-zero
# fails the script.
#
# A crasher is written by go test to <package>/testdata/fuzz/<Target>/<hash>;
# keep it (CI: upload it as an artifact) and commit it once fixed, so it
# stays in the seed corpus. Reproduce with
#   go test -run '^<Target>$/^<hash>$' <package>
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-8s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-1s}
if [ $# -eq 0 ]; then
  set -- ./signingcore/...
fi

# go test -list prints a package's matching test names, then its "ok" line.
if ! listing=$("$GO" test -list '^Fuzz' "$@" 2>&1); then
  echo "$listing" >&2
  echo "fuzz-short: listing the fuzz targets failed" >&2
  exit 1
fi
targets=()
pending=()
while IFS= read -r line; do
  case "$line" in
    Fuzz*) pending+=("$line") ;;
    "ok "*)
      pkg=$(awk '{print $2}' <<<"$line")
      for t in ${pending[@]+"${pending[@]}"}; do targets+=("$pkg $t"); done
      pending=()
      ;;
  esac
done <<<"$listing"
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz-short: no Fuzz* targets found in $*" >&2
  exit 1
fi

# corpus_files lists the files of a target's testdata/fuzz directory.
corpus_files() {
  if [ -d "$1" ]; then find "$1" -type f | sort; fi
}

# deadline_race succeeds when a go test -fuzz log failed only with the bare
# "context deadline exceeded" of go.dev/issue/75804: the --- FAIL block
# holds that one line, and no input was written or reported.
deadline_race() {
  grep -q 'Failing input written to\|failure while testing seed corpus\|^panic:' "$1" && return 1
  awk '
    /^--- FAIL: Fuzz/ { inblock = 1; fails++; next }
    inblock && /^FAIL$/ { inblock = 0; next }
    inblock { if ($0 == "    context deadline exceeded") race++; else other++ }
    END { exit !(fails == 1 && race == 1 && other == 0) }
  ' "$1"
}

echo "fuzz-short: ${#targets[@]} targets, -fuzztime $FUZZTIME -fuzzminimizetime $FUZZMINIMIZETIME each"
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
summary=()
failed=0
start_all=$SECONDS
for entry in "${targets[@]}"; do
  pkg=${entry% *}
  target=${entry#* }
  log="$logdir/${target}.log"
  corpus="$("$GO" list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$target"
  before=$(corpus_files "$corpus")
  start=$SECONDS
  echo "--- $target ($pkg)"
  if "$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" \
      -fuzzminimizetime "$FUZZMINIMIZETIME" "$pkg" >"$log" 2>&1; then
    status=ok
    # The last progress line says how many inputs were tried.
    detail=$(grep -o 'execs: [0-9]*' "$log" | tail -n1 || true)
  elif deadline_race "$log" && [ "$(corpus_files "$corpus")" = "$before" ]; then
    status=ok*
    detail="$(grep -o 'execs: [0-9]*' "$log" | tail -n1 || true); go#75804 deadline race at stop, no crasher"
  else
    status=FAIL
    failed=1
    detail=$(grep -o 'testdata/fuzz/[^ ]*' "$log" | tail -n1 || true)
    [ -n "$detail" ] && detail="crasher $pkg/$detail"
    sed 's/^/    /' "$log" | tail -n 40
  fi
  summary+=("$(printf '%-5s %-28s %-32s %4ss  %s' "$status" "$target" "$pkg" $((SECONDS - start)) "$detail")")
done

echo
echo "fuzz-short summary ($((SECONDS - start_all))s):"
printf '  %s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
  echo "fuzz-short: a fuzz target failed (see above)" >&2
  exit 1
fi
