#!/usr/bin/env bash
# Duet's benchmarks, on loopback only, bounded in players and seconds (docs/benchmarks.md):
# fan-out over RTMP and HTTP-FLV against Duet, the same RTMP load against nginx-rtmp and the
# kernel floor, relay latency and first frame at 1 and N players, and signaling scale.
#
#   scripts/bench.sh                       # defaults: 1000 players, 10 s windows, 1 Mbit/s
#   PLAYERS=5000 BENCH_SECONDS=20 scripts/bench.sh
#   BENCH_PEERS="srs=rtmp://127.0.0.1:1935/live/s,rtmp://127.0.0.1:1935/live/s" scripts/bench.sh
#   BENCH_ONLY=fanout scripts/bench.sh     # or BENCH_ONLY=signaling: one part only
#
# With two or more cores, servers under test run on CPU 0 and the load generator on CPU 1
# (taskset), so they do not compete; the output says whether it pinned.
# Results: one JSON line per run in target/bench/results.jsonl, and a table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

PLAYERS=${PLAYERS:-1000}
WINDOW=${BENCH_SECONDS:-10}
KBPS=${KBPS:-1000}
SESSIONS=${SESSIONS:-10000}
BIG_ROOM=${BIG_ROOM:-1000}
PEERS=${BENCH_PEERS:-}
ONLY=${BENCH_ONLY:-}
case "$ONLY" in ""|fanout|signaling) ;; *) echo "bench: BENCH_ONLY is fanout or signaling" >&2; exit 2 ;; esac
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
OUT=target/bench
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"

need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if ! need nginx-light && ! need nginx || ! need libnginx-mod-rtmp; then
  echo "bench: installing nginx with the RTMP module (for the comparison)" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nginx-light libnginx-mod-rtmp >/dev/null
fi
scripts/setup.sh >/dev/null
cargo build --release --quiet --workspace --bins
DUET=target/release/duet
BENCH=target/release/duet-bench
ulimit -n "$(ulimit -Hn)" || true

# Servers on CPU 0, the load generator on CPU 1, when there are two cores to give.
SERVER_PIN=()
LOAD_PIN=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  SERVER_PIN=(taskset -c 0)
  LOAD_PIN=(taskset -c 1)
  echo "bench: pinned: servers on CPU 0, load generator on CPU 1" >&2
else
  echo "bench: not pinned ($(nproc) core(s) or no taskset): servers and load share the CPUs" >&2
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Starts duet on free loopback ports; sets DUET_PID, HTTP, RTMP, APP, SECRET.
start_duet() {
  local data="$OUT/duet-data-$1"
  rm -rf "$data"
  # Every player and session comes from 127.0.0.1: lift the per-address caps (the totals,
  # derived from the open-file limit raised above, still hold).
  "${SERVER_PIN[@]}" "$DUET" serve --data "$data" --http 127.0.0.1:0 --rtmp 127.0.0.1:0 --log-level warn \
    --http-max-connections-per-ip 1000000 --rtmp-max-connections-per-ip 1000000 > "$OUT/duet-$1.out" 2>&1 &
  DUET_PID=$!
  pids+=("$DUET_PID")
  for _ in $(seq 100); do grep -q "Test token" "$OUT/duet-$1.out" 2>/dev/null && break; sleep 0.1; done
  HTTP=$(sed -n 's/.*HTTP\/WebSocket.*listening on \([0-9.:]*\);.*/\1/p' "$OUT/duet-$1.out")
  RTMP=$(sed -n 's/.*RTMP .*listening on \([0-9.:]*\)).*/\1/p' "$OUT/duet-$1.out")
  APP=$(awk '/AppID/ {print $2; exit}' "$OUT/duet-$1.out")
  SECRET=$(awk '/ServerSecret/ {print $2; exit}' "$OUT/duet-$1.out")
  DUET_DATA=$data
}

run() { # run NAME ARGS...: one fan-out, its JSON appended to the results
  local name=$1; shift
  echo "bench: $name" >&2
  "${LOAD_PIN[@]}" "$BENCH" fanout --name "$name" --seconds "$WINDOW" --kbps "$KBPS" "$@" | tee -a "$RESULTS" >/dev/null
}

if want fanout; then
# --- Duet -------------------------------------------------------------------------------------
start_duet fanout
publish_url() { "$DUET" url publish --data "$DUET_DATA" --app-id "$APP" --public-rtmp-url "rtmp://$RTMP" --ttl 3600 --stream-id "$1"; }
play_url() {
  "$DUET" url play --data "$DUET_DATA" --app-id "$APP" --public-rtmp-url "rtmp://$RTMP" --public-http-url "http://$HTTP" \
    --ttl 3600 --stream-id "$1" --format "$2"
}
run "duet-rtmp" --publish "$(publish_url a)" --play "$(play_url a rtmp)" --players "$PLAYERS" --server-pid "$DUET_PID"
run "duet-flv" --publish "$(publish_url b)" --flv "$(play_url b flv)" --players "$PLAYERS" --server-pid "$DUET_PID"
run "duet-rtmp-1" --publish "$(publish_url c)" --play "$(play_url c rtmp)" --players 1 --server-pid "$DUET_PID"

# --- nginx-rtmp -------------------------------------------------------------------------------
NGINX_PORT=19350
mkdir -p "$OUT/nginx"
cat > "$OUT/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
worker_processes 1;
pid $PWD/$OUT/nginx/nginx.pid;
error_log $PWD/$OUT/nginx/error.log warn;
events { worker_connections 12000; }
rtmp {
  server {
    listen 127.0.0.1:$NGINX_PORT;
    chunk_size 4096;
    application live { live on; }
  }
}
EOF
"${SERVER_PIN[@]}" nginx -c "$PWD/$OUT/nginx/nginx.conf" -p "$PWD/$OUT/nginx" &
NGINX_PID=$!
pids+=("$NGINX_PID")
sleep 0.5
NG=rtmp://127.0.0.1:$NGINX_PORT/live
run "nginx-rtmp" --publish "$NG/a" --play "$NG/a" --players "$PLAYERS" --server-pid "$NGINX_PID"
run "nginx-rtmp-1" --publish "$NG/c" --play "$NG/c" --players 1 --server-pid "$NGINX_PID"
kill "$NGINX_PID" 2>/dev/null || true

# --- the floor --------------------------------------------------------------------------------
"${SERVER_PIN[@]}" "$BENCH" floor --listen 127.0.0.1:19360 --seconds $((WINDOW * 3 + 60)) --kbps "$KBPS" > "$OUT/floor.out" &
FLOOR_PID=$!
pids+=("$FLOOR_PID")
sleep 0.5
run "floor" --raw 127.0.0.1:19360 --players "$PLAYERS" --server-pid "$FLOOR_PID"
kill "$FLOOR_PID" 2>/dev/null || true

# --- other servers already running on loopback -------------------------------------------------
IFS=';' read -ra peer_list <<< "$PEERS"
for peer in "${peer_list[@]}"; do
  [ -z "$peer" ] && continue
  name=${peer%%=*}; urls=${peer#*=}; pub=${urls%%,*}; play=${urls#*,}
  pid=$(ss -ltnpH "sport = :$(echo "$pub" | sed 's|rtmp://[^:]*:\([0-9]*\)/.*|\1|')" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
  run "$name" --publish "$pub" --play "$play" --players "$PLAYERS" --server-pid "$pid"
done

kill "$DUET_PID" 2>/dev/null || true
fi

# --- signaling ----------------------------------------------------------------------------------
if want signaling; then
start_duet signaling
echo "bench: signaling ($SESSIONS sessions)" >&2
"${LOAD_PIN[@]}" "$BENCH" signaling --ws "ws://$HTTP/ws" --app-id "$APP" --secret "$SECRET" --sessions "$SESSIONS" --big "$BIG_ROOM" --server-pid "$DUET_PID" | tee -a "$RESULTS" >/dev/null
fi

# --- the table ----------------------------------------------------------------------------------
python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
fan = {r["name"]: r for r in rows if r["name"] != "signaling"}
print(f"{'run':<14}{'players':>8}{'missed':>7}{'Mbit/s out':>11}{'CPU s':>7}{'CPU s/Gbit':>11}{'RSS MiB':>8}{'lat p50':>8}{'p99':>7}{'max':>7}{'1st p50':>8}{'p99':>7}")
for r in fan.values():
    l, f = r["latency_ms"], r["first_frame_ms"]
    print(f"{r['name']:<14}{r['players']:>8}{r['missed']:>7}{r['delivered_mbit_s']:>11}{r['server_cpu_s']:>7}{r['cpu_s_per_gbit']:>11}{r['server_rss_mib']:>8}{l['p50']:>8}{l['p99']:>7}{l['max']:>7}{f['p50']:>8}{f['p99']:>7}")
def ratio(a, b, key="cpu_s_per_gbit"):
    if a in fan and b in fan and fan[b][key]:
        print(f"{a}/{b} {key}: {fan[a][key] / fan[b][key]:.2f}")
ratio("duet-rtmp", "nginx-rtmp")
ratio("duet-rtmp", "floor")
ratio("duet-flv", "floor")
for r in rows:
    if r["name"] == "signaling":
        print(f"signaling: {r['logged_in']}/{r['sessions']} sessions, {r['logins_per_s']} logins/s, "
              f"{r['bytes_per_session']:.0f} B/session (RSS {r['server_rss_mib']} MiB); "
              f"broadcast to {r['broadcast_to_room']['members'] // 5} members p50 {r['broadcast_to_room']['p50_ms']} ms p99 {r['broadcast_to_room']['p99_ms']} ms; "
              f"stream ADD p50 {r['stream_add_to_room']['p50_ms']} ms p99 {r['stream_add_to_room']['p99_ms']} ms "
              f"({r['stream_add_to_room']['reached']}/{r['stream_add_to_room']['members']} reached)")
EOF
