#!/bin/bash
# usage: bash stryker/run-files.sh src/file.ts...   Mutates each file in its own Stryker run, in
# turn (one core), with its own report and incremental file in reports/by-file/<name>.{html,json,log}.
# Merge the results with: node stryker/summary.mjs reports/by-file/*.json   (docs/MUTATION.md)
cd "$(dirname "$0")/.." || exit 1
mkdir -p reports/by-file
for f in "$@"; do
  n=$(echo "$f" | sed 's#^src/##; s#/#_#g; s#\.ts$##')
  echo "== $f ($n) $(date +%T)"
  start=$(date +%s)
  MUT_NAME=$n npx stryker run stryker/by-file.mjs --mutate "$f" > "reports/by-file/$n.log" 2>&1
  echo "== $f done rc=$? in $(( $(date +%s) - start ))s $(date +%T)"
  grep -E "^ *[a-z-]+\.ts *\|" "reports/by-file/$n.log" | tail -1
done
