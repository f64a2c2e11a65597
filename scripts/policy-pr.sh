#!/usr/bin/env bash
# The measuring step of the auditbench GitHub Action (action.yml), also runnable by hand in a
# checkout: measure a pull request's audit policy against the base branch's version of the same
# file, then `auditbench compare` base -> PR with gates.
#
#   scripts/policy-pr.sh --policy PATH --base REF [--gate EXPR]... [--profile mixed] [--rate 100]
#       [--users N] [--duration 15s] [--warmup 3s] [--repeats 5] [--webhook-batch-max-wait DURATION]
#       [--results DIR] [--summary FILE]
#
# PATH is the policy in the working tree (the PR's version); REF is any git revision holding the
# base version (fetched from origin when it is not in the clone). Both policies and the no-audit
# baseline run as one interleaved scenario on the local backend (`auditbench run`), so base and PR
# see the same machine state, at the same fixed open-loop rate (--rate; --rate "" with --users N
# runs a closed-loop saturation test instead). A gate on a ratio needs 5 repeats for a verdict.
# A policy new in the PR is compared against the no-audit baseline.
# The comparison goes to stdout and, with --summary (default $GITHUB_STEP_SUMMARY), is appended
# there. Prints `run_dir=...` and `tripped=...` lines; appends them to $GITHUB_OUTPUT when set.
# Exit: 0 ok or nothing to measure; 1 a gate tripped or a variant failed or leaked; 2 bad usage.
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "policy-pr: $*" >&2; exit 2; }

policy="" base="" profile="mixed" rate="100" users="" duration="15s" warmup="3s" repeats="5" wait=""
results="results" summary="${GITHUB_STEP_SUMMARY:-}"
gates=()
while [ $# -gt 0 ]; do
  case "$1" in
    --policy) policy="$2"; shift 2 ;;
    --base) base="$2"; shift 2 ;;
    --gate) [ -n "$2" ] && gates+=(--fail-on "$2"); shift 2 ;;
    --profile) profile="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --users) users="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --webhook-batch-max-wait) wait="$2"; shift 2 ;;
    --results) results="$2"; shift 2 ;;
    --summary) summary="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "policy-pr: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$policy" ] && [ -n "$base" ] || usage
command -v auditbench >/dev/null || die "auditbench is not on PATH (pip install -e <auditbench checkout>)"
# The interpreter auditbench is installed in; used for the variant ids below.
python="$(dirname "$(command -v auditbench)")/python"
[ -x "$python" ] || python=python3
git rev-parse --git-dir >/dev/null 2>&1 || die "run inside the git repository that holds $policy"

work="$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/policy-pr.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/policies" "$results"

note() {  # one line for the log and the job summary
  echo "$1"
  if [ -n "$summary" ]; then printf '%s\n\n' "$1" >> "$summary"; fi
}
output() {
  echo "$1"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "$1" >> "$GITHUB_OUTPUT"; fi
}

# The base version: `<rev>:./<path>` is resolved relative to the current directory, like PATH.
if ! git cat-file -e "$base^{commit}" 2>/dev/null; then
  git fetch --no-tags --depth=1 origin "$base" >&2 || die "cannot fetch base revision $base from origin"
  base="$(git rev-parse FETCH_HEAD)"
fi
in_base=true
git show "$base:./$policy" > "$work/policies/base.yaml" 2>/dev/null || in_base=false
if [ ! -f "$policy" ]; then
  $in_base || die "$policy exists neither in the working tree nor at $base"
  note "auditbench: \`$policy\` is deleted in this change; nothing to measure."
  exit 0
fi
cp "$policy" "$work/policies/pr.yaml"
if $in_base && cmp -s "$work/policies/base.yaml" "$work/policies/pr.yaml"; then
  note "auditbench: \`$policy\` is unchanged against \`$base\`; nothing to measure."
  exit 0
fi

policies="[\"$work/policies/pr.yaml\"]"
if $in_base; then policies="[\"$work/policies/base.yaml\", \"$work/policies/pr.yaml\"]"; fi
webhook="enabled: [false]"
if [ -n "$wait" ]; then webhook="enabled: [true]
    batch_max_wait: [\"$wait\"]"; fi
if [ -n "$rate" ]; then
  load="mode: open
  target_rps: $rate"
  [ -n "$users" ] && load="$load
  users: $users"
  traffic_text="$rate req/s offered (open loop)"
else
  [ -n "$users" ] || die "--rate \"\" (closed loop) needs --users N"
  load="mode: closed
  users: $users"
  traffic_text="$users closed-loop users (a saturation test)"
fi
cat > "$work/scenario.yaml" <<EOF
name: policy-pr
description: "$policy at ${base:0:12} (base) and in the working tree (pr), with a no-audit baseline"
backend: local
policies: $policies
baseline: true
audit:
  log:
    enabled: [true]
  webhook:
    $webhook
traffic:
  profiles: ["$profile"]
  $load
  duration: "$duration"
  warmup: "$warmup"
repeats: $repeats
seed: 1
EOF

# Variant ids from auditbench's own matrix expansion, so they match what `run` writes.
read -r ref_id pr_id < <("$python" - "$work/scenario.yaml" <<'EOF'
import sys
from bench.scenario.loader import load_scenario
from bench.scenario.matrix import expand
ids = {v.policy: v.id for v in expand(load_scenario(sys.argv[1]))}
print(ids.get("base", ids["baseline"]), ids["pr"])
EOF
)

export AUDITBENCH_RESULTS_DIR="$results"
before="$(ls -1 "$results")"
rc=0
auditbench run "$work/scenario.yaml" || rc=$?
run_dir=""  # the run directory this invocation created
for d in "$results"/*/; do
  d="${d%/}"
  if [ -f "$d/run.json" ] && ! grep -qxF "$(basename "$d")" <<< "$before"; then run_dir="$d"; fi
done
[ -n "$run_dir" ] || { note "auditbench: the run wrote no results (exit $rc)."; exit 1; }
output "run_dir=$run_dir"
cp "$work/scenario.yaml" "$run_dir/policy-pr-scenario.yaml"

[ -n "$summary" ] && {
  echo "## auditbench: \`$policy\`"
  echo
  if $in_base; then echo "Base (\`${base:0:12}\`) vs this change, $repeats repeats of $duration, \`$profile\` traffic, $traffic_text."
  else echo "New policy: compared against the no-audit baseline, $repeats repeats of $duration, \`$profile\` traffic, $traffic_text."; fi
  echo
} >> "$summary"

crc=0
run_id="$(basename "$run_dir")"  # found under AUDITBENCH_RESULTS_DIR; reads better than a path
auditbench compare "$run_id:$ref_id" "$run_id:$pr_id" ${gates[@]+"${gates[@]}"} --markdown "$work/compare.md" || crc=$?
if [ -n "$summary" ] && [ -f "$work/compare.md" ]; then cat "$work/compare.md" >> "$summary"; fi
output "tripped=$([ "$crc" -eq 1 ] && echo true || echo false)"
if [ "$rc" -ne 0 ]; then note "auditbench: a variant failed, timed out or leaked a canary (see $run_dir)."; fi
[ "$rc" -eq 0 ] && [ "$crc" -eq 0 ] || exit 1
