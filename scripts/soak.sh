#!/usr/bin/env bash
# Soak Duet on loopback: rounds of publish cycles, login cycles, idle and dribbling connections on
# the HTTP and RTMP ports and players that never read, then the server's memory and open files
# against their level after a warm-up round. Exits non-zero when either grew, or a cycle failed.
# Bounded: at most 20 rounds of 200 of each kind; loopback only. Sessions dropped without a
# logout may be resumed for 1 s here (30 s by default), so the settle time sees them gone.
#
#   scripts/soak.sh                          # 5 rounds of 50, release build
#   ROUNDS=10 PER_ROUND=100 scripts/soak.sh
#   PROFILE=debug scripts/soak.sh            # skip the release build
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
PER_ROUND=${PER_ROUND:-50}
SETTLE=${SETTLE:-5}
PROFILE=${PROFILE:-release}
OUT=target/soak
mkdir -p "$OUT"

if [ "$PROFILE" = release ]; then
  cargo build --release --quiet -p duet-server -p duet-bench
else
  cargo build --quiet -p duet-server -p duet-bench
fi
DUET=target/$PROFILE/duet
BENCH=target/$PROFILE/duet-bench

data="$OUT/duet-data"
rm -rf "$data"
"$DUET" serve --data "$data" --http 127.0.0.1:0 --rtmp 127.0.0.1:0 --log-level warn \
  --http-max-connections-per-ip 1000000 --rtmp-max-connections-per-ip 1000000 \
  --resume-grace-secs 1 > "$OUT/duet.out" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "Test token" "$OUT/duet.out" 2>/dev/null && break; sleep 0.1; done
HTTP=$(sed -n 's/.*HTTP\/WebSocket.*listening on \([0-9.:]*\);.*/\1/p' "$OUT/duet.out")
RTMP=$(sed -n 's/.*RTMP .*listening on \([0-9.:]*\)).*/\1/p' "$OUT/duet.out")
APP=$(awk '/AppID/ {print $2; exit}' "$OUT/duet.out")
SECRET=$(awk '/ServerSecret/ {print $2; exit}' "$OUT/duet.out")

echo "soak: $ROUNDS rounds of $PER_ROUND against duet (pid $pid, http $HTTP, rtmp $RTMP)" >&2
"$BENCH" soak --http "$HTTP" --rtmp "$RTMP" --app-id "$APP" --secret "$SECRET" \
  --rounds "$ROUNDS" --per-round "$PER_ROUND" --settle "$SETTLE" --server-pid "$pid"
echo "soak: passed" >&2
