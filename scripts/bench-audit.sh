#!/usr/bin/env bash
# Audit trail figures on N seeded events (default 1,000,000): append, verify,
# export (CSV and JSON Lines) and sqlite3 -csv on the same table, each with
# wall time and peak RSS. Needs /usr/bin/time and sqlite3 (Debian: time,
# sqlite3). Usage: scripts/bench-audit.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TAPDESK_AUDIT_KEY=bench-audit-key-0123456789abcdef0123
bin=$work/tapdesk db=$work/bench.db

if [ -n "${TAPDESK_BIN:-}" ]; then bin=$TAPDESK_BIN; else go build -o "$bin" ./cmd/tapdesk; fi
"$bin" migrate --db "$db" >/dev/null

# measure LABEL CMD...: one line with wall seconds and peak RSS.
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/t" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; return 1; }
  read -r secs kb <"$work/t"
  printf '%-34s %8.2f s  %7.1f MB peak RSS' "$label" "$secs" "$(echo "$kb/1024" | bc -l)"
  if [ -s "$work/err" ]; then printf '  (%s)' "$(tail -n1 "$work/err" | tr -d '\n')"; fi
  echo
}

echo "tapdesk audit figures, $N events, $(nproc) cores, $(date -u +%F)"
measure "audit seed (append, chained)" "$bin" audit seed --db "$db" --events "$N"
sed 's/^/  /' "$work/out"
measure "audit verify" "$bin" audit verify --db "$db"
measure "audit export --format csv" "$bin" audit export --db "$db" --format csv -o "$work/tapdesk.csv"
measure "sqlite3 -csv (same table)" sqlite3 -csv -header "$db" "SELECT * FROM audit_events ORDER BY seq"
cp "$work/out" "$work/sqlite.csv"
measure "sqlite3 -csv (stored columns only)" sqlite3 -csv -header "$db" "SELECT seq, record, mac FROM audit_events ORDER BY seq"
measure "audit export --format jsonl" "$bin" audit export --db "$db" --format jsonl -o "$work/tapdesk.jsonl"
printf 'sizes: tapdesk csv %s MB, sqlite3 csv %s MB, jsonl %s MB; rows: %s, %s\n' \
  $(( $(stat -c %s "$work/tapdesk.csv") >> 20 )) $(( $(stat -c %s "$work/sqlite.csv") >> 20 )) \
  $(( $(stat -c %s "$work/tapdesk.jsonl") >> 20 )) "$(wc -l <"$work/tapdesk.jsonl")" "$(( $(wc -l <"$work/sqlite.csv") - 1 ))"
echo "single writer, one event per transaction (as the portal writes them):"
go test -run '^$' -bench 'AppendEvent$' -benchtime 5000x ./store/ | grep -E '^Benchmark' | sed 's/^/  /'
