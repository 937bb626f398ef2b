# Sourced by hack/test.sh: turns each stage's log into passed/failed/skipped
# counts and adds them to the run's totals (the last line of hack/test.sh,
# `N passed, N failed, N skipped`). Each counter prints what it counted.
# A log without the summary its runner always prints (the runner crashed,
# or never started) counts as one failed test, never as zero tests.
total_passed=0 total_failed=0 total_skipped=0
count_lines=()  # one "what: N passed, N failed, N skipped" per stage

# tally WHAT PASSED FAILED SKIPPED
tally() {
  total_passed=$((total_passed + $2)) total_failed=$((total_failed + $3)) total_skipped=$((total_skipped + $4))
  count_lines+=("$1: $2 passed, $3 failed, $4 skipped")
  echo "counts: ${count_lines[-1]}"
}

# count_ctest WHAT LOG: every ctest summary in LOG ("X% tests passed, Y tests
# failed out of Z"); Z includes the skipped tests, listed under "did not run"
# as (Skipped), and excludes (Disabled) ones, which count as skipped too.
count_ctest() {
  local what=$1 log=$2 p=0 f=0 s=0 n=0 line y z
  while read -r line; do
    [[ $line =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]] || continue
    y=${BASH_REMATCH[1]} z=${BASH_REMATCH[2]}
    f=$((f + y)) p=$((p + z - y)) n=$((n + 1))
  done < <(grep -E '^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log")
  local skipped disabled
  skipped=$(grep -cE '^\s+[0-9]+ - .+ \(Skipped\)$' "$log")
  disabled=$(grep -cE '^\s+[0-9]+ - .+ \(Disabled\)$' "$log")
  p=$((p - skipped)) s=$((skipped + disabled))
  ((n > 0)) || { echo "counts: $what: no ctest summary in $log" >&2; f=1; }
  tally "$what" "$p" "$f" "$s"
}

# count_ginkgo WHAT LOG [focused]: ginkgo's summary ("Ran N of M Specs" and
# "N Passed | N Failed | N Pending | N Skipped", run with -ginkgo.no-color).
# Pending specs count as skipped. A focused run (the WebSocket re-run of the
# streaming specs) counts no skipped specs: the ones it leaves out run in
# the full run. hack/critest.sh names the one spec that cannot pass offline
# (the pinned-digest image): it counts as skipped, with its reason above.
count_ginkgo() {
  local what=$1 log=$2 focused=${3:-} line p f pend s
  line=$(grep -E '[0-9]+ Passed \| [0-9]+ Failed \| [0-9]+ Pending \| [0-9]+ Skipped' "$log" | tail -1)
  if ! [[ $line =~ ([0-9]+)\ Passed\ \|\ ([0-9]+)\ Failed\ \|\ ([0-9]+)\ Pending\ \|\ ([0-9]+)\ Skipped ]] ||
    ! grep -qE '^Ran [0-9]+ of [0-9]+ Specs' "$log"; then
    echo "counts: $what: no ginkgo summary in $log" >&2
    tally "$what" 0 1 0
    return
  fi
  p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} pend=${BASH_REMATCH[3]} s=${BASH_REMATCH[4]}
  s=$((s + pend))
  [[ $focused == focused ]] && s=0
  if ((f > 0)) && grep -q 'cannot pass offline' "$log"; then
    f=$((f - 1)) s=$((s + 1))
  fi
  tally "$what" "$p" "$f" "$s"
}

# count_fuzz WHAT LOG: one test per target in hack/fuzz.sh's summary.
count_fuzz() {
  local what=$1 log=$2 p f
  p=$(grep -cE '^fuzz_[A-Za-z0-9_]+: ok' "$log")
  f=$(grep -cE '^fuzz_[A-Za-z0-9_]+: FAILED' "$log")
  ((p + f > 0)) || { echo "counts: $what: no fuzz summary in $log" >&2; f=1; }
  tally "$what" "$p" "$f" 0
}

# count_ginkgo_report WHAT LOG: hack/ginkgo_report.py's last line ("ginkgo:
# N passed, N failed, N skipped, N not selected"), for suites whose focus
# leaves most specs out (the node suite: 614 of its 1276 are
# [NodeConformance]); specs left out by the focus are not counted.
count_ginkgo_report() {
  local what=$1 log=$2 line
  line=$(grep -E '^ginkgo: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$log" | tail -1)
  if ! [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped ]]; then
    echo "counts: $what: no spec report in $log" >&2
    tally "$what" 0 1 0
    return
  fi
  local f=${BASH_REMATCH[2]}
  # A suite that failed before any spec ran (its set-up) reports no spec.
  ((${BASH_REMATCH[1]} + f + ${BASH_REMATCH[3]} > 0)) || f=1
  tally "$what" "${BASH_REMATCH[1]}" "$f" "${BASH_REMATCH[3]}"
}
