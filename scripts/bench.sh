#!/usr/bin/env bash
# Duet's benchmarks, on loopback only, bounded in players and seconds (docs/benchmarks.md):
# fan-out over RTMP and HTTP-FLV against Duet at several latency budgets, each next to the
# kernel floor at the same budget, nginx-rtmp once (it has no budget), relay latency and first
# frame at 1 and N players, a connect storm, 3x the players unpinned, WHEP (WebRTC) players
# side by side with RTMP and HTTP-FLV on the same video-only stream, signaling scale, a
# cluster (one origin and two edge nodes on Debian's redis-server) against one node, HLS
# from memory (segment requests per core, LL-HLS pollers' distance from the live edge), and
# mixing (the CPU of a mixer task, 2 and 4 inputs at 360p and 720p, next to the same mix by a
# standalone ffmpeg).
#
#   scripts/bench.sh                       # defaults: 1000 players, 10 s windows, 1 Mbit/s
#   PLAYERS=5000 BENCH_SECONDS=20 scripts/bench.sh
#   BUDGETS="0 frame 40 350" scripts/bench.sh   # latency budgets (0, frame, or ms): the default
#   BENCH_PEERS="srs=rtmp://127.0.0.1:1935/live/s,rtmp://127.0.0.1:1935/live/s" scripts/bench.sh
#   BENCH_ONLY=fanout scripts/bench.sh     # budgets + storm + scale; or storm, scale, whep, signaling, cluster, hls, mix
#   BENCH_ONLY=whep WHEP_RUNS="232:1000 1000:400" scripts/bench.sh   # WHEP vs RTMP vs HTTP-FLV
#   BENCH_ONLY=mix MIX_RUNS="2:640x360:800" scripts/bench.sh           # one mixing configuration
#
# With two or more cores, servers under test run on CPU 0 and the load generator on CPU 1
# (taskset), so they do not compete; the output says whether it pinned. The scale run is never
# pinned. Results: one JSON line per run in target/bench/results.jsonl, and a table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

PLAYERS=${PLAYERS:-1000}
WINDOW=${BENCH_SECONDS:-10}
KBPS=${KBPS:-1000}
BUDGETS=${BUDGETS:-0 frame 40 350}
# Connect storm: STORM_PLAYERS start connecting evenly over STORM_OVER_MS to a live stream.
STORM_PLAYERS=${STORM_PLAYERS:-$PLAYERS}
STORM_OVER_MS=${STORM_OVER_MS:-1000}
STORM_SECONDS=${STORM_SECONDS:-3}
STORM_BUDGET=${STORM_BUDGET:-frame}
# Scale: SCALE_PLAYERS RTMP players on Duet, unpinned, at SCALE_BUDGET.
SCALE_PLAYERS=${SCALE_PLAYERS:-$((PLAYERS * 3))}
SCALE_BUDGET=${SCALE_BUDGET:-frame}
# WHEP: for each KBPS:PLAYERS of WHEP_RUNS, that many players of each protocol (RTMP, HTTP-FLV,
# WHEP) on a video-only stream of that bitrate (WHEP players get no audio until AAC is transcoded
# to Opus), at WHEP_BUDGET, their starts spread WHEP_SPREAD_MS apart (each WHEP player makes a
# DTLS handshake); then one player of each at the first bitrate (setup and latency unloaded).
# The default: 232 kbit/s (SRS's anchor) with PLAYERS, 1 Mbit/s with 2/5 of them (what one
# core carries over WebRTC at that rate, measured; more only measures the overload).
WHEP_RUNS=${WHEP_RUNS:-232:$PLAYERS 1000:$((PLAYERS * 2 / 5))}
WHEP_BUDGET=${WHEP_BUDGET:-frame}
WHEP_SPREAD_MS=${WHEP_SPREAD_MS:-5}
SESSIONS=${SESSIONS:-10000}
BIG_ROOM=${BIG_ROOM:-1000}
# Cluster: CLUSTER_PLAYERS RTMP players of a stream published to node a, played from nodes b and
# c in turn (each edge pulls it once from a), against the same players on one node; then
# CLUSTER_SESSIONS signaling sessions dialling the three nodes in turn, BIG_ROOM of them in one
# room, against one node. All nodes share CPU 0: CPU is summed over them.
CLUSTER_PLAYERS=${CLUSTER_PLAYERS:-$PLAYERS}
CLUSTER_SESSIONS=${CLUSTER_SESSIONS:-3000}
# HLS: HLS_FETCHERS keep-alive connections fetch the newest segment as fast as Duet answers;
# then HLS_POLLERS low-latency pollers (blocking reloads, then the part listed).
HLS_FETCHERS=${HLS_FETCHERS:-50}
HLS_POLLERS=${HLS_POLLERS:-500}
# Mixing: for each INPUTS:WIDTHxHEIGHT:KBPS of MIX_RUNS, a mixer task of that many inputs (a grid)
# at MIX_FPS, measured for BENCH_SECONDS after a 5 s warm-up, then the same mix by one standalone
# ffmpeg (pinned like the server, whose CPU the mixer's children inherit).
MIX_RUNS=${MIX_RUNS:-2:640x360:800 4:640x360:800 2:1280x720:1500 4:1280x720:1500}
MIX_FPS=${MIX_FPS:-15}
PEERS=${BENCH_PEERS:-}
ONLY=${BENCH_ONLY:-}
case "$ONLY" in ""|fanout|storm|scale|whep|signaling|cluster|hls|mix) ;; *) echo "bench: BENCH_ONLY is fanout, storm, scale, whep, signaling, cluster, hls or mix" >&2; exit 2 ;; esac
# want PART: whether this run includes PART (budgets, storm, scale, whep, signaling).
want() {
  case "$1" in
    budgets) [ -z "$ONLY" ] || [ "$ONLY" = fanout ] ;;
    storm|scale) [ -z "$ONLY" ] || [ "$ONLY" = fanout ] || [ "$ONLY" = "$1" ] ;;
    *) [ -z "$ONLY" ] || [ "$ONLY" = "$1" ] ;;
  esac
}
WHEP_MAX=1
for r in $WHEP_RUNS; do
  [[ "$r" =~ ^[0-9]+:[0-9]+$ ]] || { echo "bench: WHEP_RUNS holds KBPS:PLAYERS, not '$r'" >&2; exit 2; }
  [ "${r#*:}" -gt "$WHEP_MAX" ] && WHEP_MAX=${r#*:}
done
[[ "$WHEP_SPREAD_MS" =~ ^[0-9]+$ ]] || { echo "bench: WHEP_SPREAD_MS is milliseconds" >&2; exit 2; }
for r in $MIX_RUNS; do
  [[ "$r" =~ ^[0-9]+:[0-9]+x[0-9]+:[0-9]+$ ]] || { echo "bench: MIX_RUNS holds INPUTS:WIDTHxHEIGHT:KBPS, not '$r'" >&2; exit 2; }
done
[[ "$MIX_FPS" =~ ^[0-9]+$ ]] || { echo "bench: MIX_FPS is frames per second" >&2; exit 2; }
for b in $BUDGETS $STORM_BUDGET $SCALE_BUDGET $WHEP_BUDGET; do
  [[ "$b" =~ ^(frame|[0-9]+)$ ]] || { echo "bench: a budget is 0, frame or milliseconds, not '$b'" >&2; exit 2; }
done
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
started_at=$SECONDS

# Servers on CPU 0, the load generator on CPU 1, when there are two cores to give.
SERVER_PIN=()
LOAD_PIN=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  SERVER_PIN=(taskset -c 0)
  LOAD_PIN=(taskset -c 1)
  PINNED="pinned: servers on CPU 0, load generator on CPU 1 (the scale run unpinned)"
else
  PINNED="not pinned ($(nproc) core(s) or no taskset): servers and load share the CPUs"
fi
echo "bench: $PINNED" >&2

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
# stop PID...: ends processes this script started, waits for them, and forgets them.
stop() {
  local keep=() p q
  kill "$@" 2>/dev/null || true
  wait "$@" 2>/dev/null || true
  for p in "${pids[@]}"; do
    for q in "$@"; do [ "$p" = "$q" ] && continue 2; done
    keep+=("$p")
  done
  pids=("${keep[@]}")
}

# start_duet NAME [unpinned]: starts duet on free loopback ports; sets DUET_PID, HTTP, RTMP,
# APP, SECRET, DUET_DATA. DUET_EXTRA holds more flags (a cluster's).
DUET_EXTRA=()
start_duet() {
  local data="$OUT/duet-data-$1" pin=("${SERVER_PIN[@]}")
  [ "${2:-}" = unpinned ] && pin=()
  rm -rf "$data"
  # Every player and session comes from 127.0.0.1: lift the per-address caps. The HTTP total
  # (derived from the open-file limit raised above: 9,488 under 20,000) is lifted to hold
  # SESSIONS signaling sessions.
  "${pin[@]}" "$DUET" serve --data "$data" --http 127.0.0.1:0 --rtmp 127.0.0.1:0 --log-level warn \
    --http-max-connections-per-ip 1000000 --rtmp-max-connections-per-ip 1000000 \
    --http-max-connections $((SESSIONS + 1000)) --webrtc-max-peers $((WHEP_MAX + 100)) "${DUET_EXTRA[@]}" > "$OUT/duet-$1.out" 2>&1 &
  DUET_PID=$!
  pids+=("$DUET_PID")
  for _ in $(seq 300); do grep -q "Test token" "$OUT/duet-$1.out" 2>/dev/null && break; sleep 0.1; done
  grep -q "Test token" "$OUT/duet-$1.out" || { echo "bench: duet did not start in 30 s (see $OUT/duet-$1.out)" >&2; exit 1; }
  HTTP=$(sed -n 's/.*HTTP\/WebSocket.*listening on \([0-9.:]*\);.*/\1/p' "$OUT/duet-$1.out")
  RTMP=$(sed -n 's/.*RTMP .*listening on \([0-9.:]*\)).*/\1/p' "$OUT/duet-$1.out")
  APP=$(awk '/AppID/ {print $2; exit}' "$OUT/duet-$1.out")
  SECRET=$(awk '/ServerSecret/ {print $2; exit}' "$OUT/duet-$1.out")
  [ -n "$SECRET" ] || SECRET=${CLUSTER_SECRET:-}
  DUET_DATA=$data
}
# publish_url STREAM BUDGET: the signed publish URL, carrying the latency budget.
publish_url() {
  echo "$("$DUET" url publish --data "$DUET_DATA" --app-id "$APP" --public-rtmp-url "rtmp://$RTMP" --ttl 3600 --stream-id "$1")&latency=$2"
}
play_url() {
  "$DUET" url play --data "$DUET_DATA" --app-id "$APP" --public-rtmp-url "rtmp://$RTMP" --public-http-url "http://$HTTP" \
    --ttl 3600 --stream-id "$1" --format "$2"
}

# run NAME ARGS...: one fan-out, its JSON appended to the results. SECS overrides the window,
# RUN_KBPS the bitrate; UNPINNED=1 lets the load generator use any CPU.
run() {
  local name=$1 pin=("${LOAD_PIN[@]}")
  shift
  [ -n "${UNPINNED:-}" ] && pin=()
  echo "bench: $name" >&2
  "${pin[@]}" "$BENCH" fanout --name "$name" --seconds "${SECS:-$WINDOW}" --kbps "${RUN_KBPS:-$KBPS}" "$@" | tee -a "$RESULTS" >/dev/null
}
streams=0
# duet_runs SUFFIX BUDGET ARGS...: Duet over RTMP, then over HTTP-FLV, each on a new stream.
duet_runs() {
  local suffix=$1 b=$2
  shift 2
  streams=$((streams + 1))
  run "duet-rtmp$suffix" --budget "$b" --publish "$(publish_url "r$streams" "$b")" --play "$(play_url "r$streams" rtmp)" \
    --server-pid "$DUET_PID" --metrics "http://$HTTP/metrics" "$@"
  run "duet-flv$suffix" --budget "$b" --publish "$(publish_url "f$streams" "$b")" --flv "$(play_url "f$streams" flv)" \
    --server-pid "$DUET_PID" --metrics "http://$HTTP/metrics" "$@"
}

NGINX_PORT=19350
NG=rtmp://127.0.0.1:$NGINX_PORT/live
start_nginx() {
  mkdir -p "$OUT/nginx"
  cat > "$OUT/nginx/nginx.conf" <<NGINX
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
NGINX
  "${SERVER_PIN[@]}" nginx -c "$PWD/$OUT/nginx/nginx.conf" -p "$PWD/$OUT/nginx" &
  NGINX_PID=$!
  pids+=("$NGINX_PID")
  sleep 0.5
}

if want budgets || want storm; then
  start_duet fanout
  start_nginx
fi

# --- the fan-out at each budget: Duet RTMP, Duet HTTP-FLV, the floor at the same budget --------
if want budgets; then
  for b in $BUDGETS; do
    duet_runs "@$b" "$b" --players "$PLAYERS"
    "${SERVER_PIN[@]}" "$BENCH" floor --listen 127.0.0.1:19360 --seconds $((WINDOW * 3 + 60)) --kbps "$KBPS" \
      --latency "$b" > "$OUT/floor-$b.out" &
    FLOOR_PID=$!
    pids+=("$FLOOR_PID")
    sleep 0.5
    run "floor@$b" --budget "$b" --raw 127.0.0.1:19360 --players "$PLAYERS" --server-pid "$FLOOR_PID"
    stop "$FLOOR_PID"
  done

  # nginx-rtmp has no budget: once. Then one player each, for latency without load.
  run "nginx-rtmp" --publish "$NG/a" --play "$NG/a" --players "$PLAYERS" --server-pid "$NGINX_PID"
  run "duet-rtmp-1" --budget 0 --publish "$(publish_url one 0)" --play "$(play_url one rtmp)" --players 1 \
    --server-pid "$DUET_PID"
  run "nginx-rtmp-1" --publish "$NG/c" --play "$NG/c" --players 1 --server-pid "$NGINX_PID"

  # Other servers already running on loopback.
  IFS=';' read -ra peer_list <<< "$PEERS"
  for peer in "${peer_list[@]}"; do
    [ -z "$peer" ] && continue
    name=${peer%%=*}; urls=${peer#*=}; pub=${urls%%,*}; play=${urls#*,}
    pid=$(ss -ltnpH "sport = :$(echo "$pub" | sed 's|rtmp://[^:]*:\([0-9]*\)/.*|\1|')" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
    run "$name" --publish "$pub" --play "$play" --players "$PLAYERS" --server-pid "$pid"
  done
fi

# --- connect storm: players arrive evenly over a second, the stream already live ----------------
if want storm; then
  storm=(--players "$STORM_PLAYERS" --connect-over-ms "$STORM_OVER_MS")
  SECS=$STORM_SECONDS duet_runs "-storm" "$STORM_BUDGET" "${storm[@]}"
  SECS=$STORM_SECONDS run "nginx-rtmp-storm" --publish "$NG/s" --play "$NG/s" --server-pid "$NGINX_PID" "${storm[@]}"
fi
if want budgets || want storm; then
  stop "$NGINX_PID" "$DUET_PID"
fi

# --- scale: SCALE_PLAYERS RTMP players on Duet, unpinned: does any miss data? -------------------
if want scale; then
  start_duet scale unpinned
  UNPINNED=1 run "duet-rtmp-scale" --budget "$SCALE_BUDGET" --publish "$(publish_url scale "$SCALE_BUDGET")" \
    --play "$(play_url scale rtmp)" --players "$SCALE_PLAYERS" --server-pid "$DUET_PID" --metrics "http://$HTTP/metrics"
  stop "$DUET_PID"
fi

# --- WHEP next to RTMP and HTTP-FLV: the same video-only stream, bitrate and players -------------
# whep_runs KBPS PLAYERS SUFFIX: RTMP, HTTP-FLV and WHEP players, each on a new stream.
whep_runs() {
  local k=$1 n=$2 proto pull
  for proto in rtmp flv whep; do
    streams=$((streams + 1))
    case $proto in
      rtmp) pull=(--play "$(play_url "w$streams" rtmp)") ;;
      flv) pull=(--flv "$(play_url "w$streams" flv)") ;;
      whep) pull=(--whep "$(play_url "w$streams" whep)") ;;
    esac
    RUN_KBPS=$k run "$proto@${k}k$3" --budget "$WHEP_BUDGET" --publish "$(publish_url "w$streams" "$WHEP_BUDGET")" \
      "${pull[@]}" --video-only --players "$n" --connect-over-ms $((n * WHEP_SPREAD_MS)) \
      --server-pid "$DUET_PID" --metrics "http://$HTTP/metrics"
  done
}
if want whep; then
  start_duet whep
  for r in $WHEP_RUNS; do
    whep_runs "${r%%:*}" "${r#*:}" ""
  done
  first=${WHEP_RUNS%% *}
  whep_runs "${first%%:*}" 1 "-1"
  stop "$DUET_PID"
fi

# --- signaling ----------------------------------------------------------------------------------
if want signaling; then
start_duet signaling
echo "bench: signaling ($SESSIONS sessions)" >&2
"${LOAD_PIN[@]}" "$BENCH" signaling --ws "ws://$HTTP/ws" --app-id "$APP" --secret "$SECRET" --sessions "$SESSIONS" --big "$BIG_ROOM" --server-pid "$DUET_PID" | tee -a "$RESULTS" >/dev/null
fi

# --- HLS from memory ---------------------------------------------------------------------------
if want hls; then
  start_duet hls
  echo "bench: hls ($HLS_FETCHERS fetchers, then $HLS_POLLERS LL-HLS pollers)" >&2
  "${LOAD_PIN[@]}" "$BENCH" hls --publish "$(publish_url hls frame)" --playlist "$(play_url hls hls)" \
    --fetchers "$HLS_FETCHERS" --pollers "$HLS_POLLERS" --seconds "$WINDOW" --kbps "$KBPS" --server-pid "$DUET_PID" \
    | tee -a "$RESULTS" >/dev/null
  stop "$DUET_PID"
fi

# --- mixing: a mixer task's CPU next to the same mix by a standalone ffmpeg ------------------------
if want mix; then
  command -v ffmpeg >/dev/null || { echo "bench: ffmpeg missing (scripts/setup.sh installs it)" >&2; exit 1; }
  start_duet mix
  peer_pin=()
  [ ${#SERVER_PIN[@]} -gt 0 ] && peer_pin=(--peer-cpus 0)
  for r in $MIX_RUNS; do
    n=${r%%:*}; size=${r#*:}; size=${size%%:*}; k=${r##*:}
    echo "bench: mix ($n inputs, ${size} at $MIX_FPS fps, $k kbit/s)" >&2
    "${LOAD_PIN[@]}" "$BENCH" mix --http "$HTTP" --rtmp "$RTMP" --app-id "$APP" --secret "$SECRET" --inputs "$n" \
      --width "${size%x*}" --height "${size#*x}" --fps "$MIX_FPS" --kbps "$k" --seconds "$WINDOW" \
      --server-pid "$DUET_PID" "${peer_pin[@]}" | tee -a "$RESULTS" >/dev/null
  done
  stop "$DUET_PID"
fi

# --- cluster: one origin and two edges against one node --------------------------------------------
if want cluster; then
  command -v redis-server >/dev/null || { echo "bench: redis-server missing (scripts/setup.sh installs it)" >&2; exit 1; }
  REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  rm -rf "$OUT/redis"; mkdir -p "$OUT/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT/redis" > "$OUT/redis/log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  REDIS_URL=redis://127.0.0.1:$REDIS_PORT
  # The cluster's app, registered as an operator would, before the nodes start.
  CLUSTER_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  rm -rf "$OUT/cluster-cli"
  "$DUET" app import --data "$OUT/cluster-cli" --redis-url "$REDIS_URL" --app-id 424242 --secret "$CLUSTER_SECRET" >/dev/null
  node_pids=(); node_ws=(); node_rtmp=(); node_http=()
  for n in a b c; do
    DUET_EXTRA=(--redis-url "$REDIS_URL" --node-id "node-$n")
    start_duet "cluster-$n"
    node_pids+=("$DUET_PID"); node_ws+=("ws://$HTTP/ws"); node_rtmp+=("$RTMP"); node_http+=("$HTTP")
  done
  DUET_EXTRA=()
  APP=424242; SECRET=$CLUSTER_SECRET; DUET_DATA="$OUT/cluster-cli"
  cluster_url() { # cluster_url publish|play STREAM NODE: a signed RTMP URL naming node NODE (0, 1, 2)
    "$DUET" url "$1" --data "$DUET_DATA" --redis-url "$REDIS_URL" --app-id "$APP" --ttl 3600 --stream-id "$2" \
      --public-rtmp-url "rtmp://${node_rtmp[$3]}" --public-http-url "http://${node_http[$3]}" --format rtmp
  }
  sleep 3 # every node lists the three
  pid_args=(); for p in "${node_pids[@]}"; do pid_args+=(--server-pid "$p"); done
  run "cluster-3nodes" --budget frame --publish "$(cluster_url publish edge 0)&latency=frame" \
    --play "$(cluster_url play edge 1)" --play "$(cluster_url play edge 2)" --players "$CLUSTER_PLAYERS" "${pid_args[@]}"
  echo "bench: cluster signaling ($CLUSTER_SESSIONS sessions over three nodes)" >&2
  ws_args=(); for w in "${node_ws[@]}"; do ws_args+=(--ws "$w"); done
  "${LOAD_PIN[@]}" "$BENCH" signaling "${ws_args[@]}" --app-id "$APP" --secret "$SECRET" --sessions "$CLUSTER_SESSIONS" \
    --big "$BIG_ROOM" "${pid_args[@]}" | tee -a "$RESULTS" >/dev/null
  stop "${node_pids[@]}"
  # The same on one node.
  start_duet cluster-single
  run "cluster-1node" --budget frame --publish "$(publish_url single frame)" --play "$(play_url single rtmp)" \
    --players "$CLUSTER_PLAYERS" --server-pid "$DUET_PID"
  echo "bench: signaling on one node ($CLUSTER_SESSIONS sessions)" >&2
  "${LOAD_PIN[@]}" "$BENCH" signaling --ws "ws://$HTTP/ws" --app-id "$APP" --secret "$SECRET" --sessions "$CLUSTER_SESSIONS" \
    --big "$BIG_ROOM" --server-pid "$DUET_PID" | tee -a "$RESULTS" >/dev/null
  stop "$DUET_PID"
fi

# --- the table ----------------------------------------------------------------------------------
python3 - "$RESULTS" "$PINNED" "$((SECONDS - started_at))" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
pinned, elapsed = sys.argv[2], int(sys.argv[3])
fan = {r["name"]: r for r in rows if r["name"] not in ("signaling", "hls", "mix") and r.get("video_only") is not True}
whep = [r for r in rows if r["name"] != "signaling" and r.get("video_only") is True]
mix = [r for r in rows if r["name"] == "mix"]
print(f"bench: {pinned}; run time {elapsed // 60} min {elapsed % 60} s")

def cpu(name):
    return fan[name]["cpu_s_per_gbit"] if name in fan else None

def ratio(a, b):
    x, y = cpu(a), cpu(b)
    return f"{x / y:.2f}" if x is not None and y else ""

def kind(name):  # duet-rtmp@40 -> duet-rtmp
    return name.split("@")[0]

budgeted = [r for r in fan.values() if "@" in r["name"]]
cluster = [r for r in fan.values() if r["name"].startswith("cluster-")]
others = [r for r in fan.values() if "@" not in r["name"] and not r["name"].endswith(("-storm", "-scale"))
          and not r["name"].startswith("cluster-")]
storm = [r for r in fan.values() if r["name"].endswith("-storm")]
scale = [r for r in fan.values() if r["name"].endswith("-scale")]

if budgeted or others:
    print()
    print("fan-out (ratios: CPU s/Gbit of this row over the floor at the same budget, over nginx-rtmp for rows at 'frame')")
    print(f"{'run':<17}{'players':>8}{'missed':>7}{'Mbit/s':>8}{'CPU s':>7}{'CPU s/Gbit':>11}{'RSS MiB':>8}"
          f"{'lat p50':>8}{'p99':>8}{'max':>9}{'1st p50':>9}{'p99':>9}{'/floor':>7}{'/nginx':>7}")
    budgets = list(dict.fromkeys(r["budget"] for r in budgeted))
    for group in [[r for r in budgeted if r["budget"] == b] for b in budgets] + [others]:
        for r in group:
            l, f, b = r["latency_ms"], r["first_frame_ms"], r.get("budget")
            loaded = r["players"] > 1  # one player's CPU per Gbit says nothing
            floor = ratio(r["name"], f"floor@{b}") if "@" in r["name"] and not r["name"].startswith("floor") else ""
            nginx = ratio(r["name"], "nginx-rtmp") if "@" in r["name"] and b == "frame" else ""
            cost = f"{r['server_cpu_s']:>7}{r['cpu_s_per_gbit']:>11}" if loaded else f"{'':>18}"
            print(f"{r['name']:<17}{r['players']:>8}{r['missed']:>7}{r['delivered_mbit_s']:>8}{cost}"
                  f"{r['server_rss_mib']:>8}{l['p50']:>8}{l['p99']:>8}{l['max']:>9}"
                  f"{f['p50']:>9}{f['p99']:>9}{floor:>7}{nginx:>7}")
        print()

if storm:
    r0 = storm[0]
    print(f"connect storm: {r0['players']} players start connecting evenly over {r0['connect_over_ms']} ms to a live stream;"
          " first frame = TCP connect to first keyframe")
    print(f"{'run':<17}{'budget':>7}{'connected':>10}{'failed':>7}{'missed':>7}{'1st p50':>9}{'p99':>9}{'max':>9}"
          f"{'start lag p99':>14}{'load CPU':>9}")
    for r in storm:
        f = r["first_frame_ms"]
        print(f"{r['name']:<17}{r['budget'] or '-':>7}{r['connected']:>10}{r['failed']:>7}{r['missed']:>7}{f['p50']:>9}"
              f"{f['p99']:>9}{f['max']:>9}{r['start_lag_ms']['p99']:>14}{r['load_cpu']['connect']:>9}")
    print()

for r in scale:
    w, l = r["missed_why"], r["latency_ms"]
    skips = r.get("server_keyframe_skips")
    print(f"scale (unpinned): {r['name']} at budget {r['budget']}: {r['players']} players, {r['connected']} connected, "
          f"missed {r['missed']} (disconnected {w['disconnected']}, breaks {w['breaks']}, short {w['short']}), "
          f"server keyframe skips {skips if skips is not None else 'n/a'}; {r['delivered_mbit_s']} Mbit/s out, "
          f"{r['cpu_s_per_gbit']} CPU s/Gbit, latency p50 {l['p50']} / p99 {l['p99']} ms, "
          f"load generator {r['load_cpu']['window']} cores")

if whep:
    r0 = whep[0]
    print(f"WHEP next to RTMP and HTTP-FLV: the same players of each at each bitrate, a video-only stream, budget "
          f"{r0['budget']}, starts {r0['connect_over_ms'] / r0['players']:g} ms apart. players/core: players over the server's busy "
          "cores at this bitrate; viewers/core@1M: 1000 / CPU s/Gbit. 1st: from the connect (WHEP: the POST) to the first "
          "keyframe; ICE->1st: from ICE connected (WHEP)")
    print(f"{'run':<14}{'players':>8}{'missed':>7}{'Mbit/s':>8}{'CPU s':>7}{'CPU s/Gbit':>11}{'players/core':>13}"
          f"{'viewers/core@1M':>16}{'lat p50':>8}{'p99':>8}{'1st p50':>9}{'p99':>9}{'ICE->1st p50':>13}{'p99':>8}"
          f"{'load CPU':>9}")
    for r in whep:
        l, f, w = r["latency_ms"], r["first_frame_ms"], r.get("whep")
        ice = f"{w['first_after_ice_ms']['p50']:>13}{w['first_after_ice_ms']['p99']:>8}" if w else f"{'':>21}"
        cost = (f"{r['server_cpu_s']:>7}{r['cpu_s_per_gbit']:>11}{r['players_per_core']:>13.0f}"
                f"{r['viewers_per_core_1mbit']:>16.0f}") if r["players"] > 1 else f"{'':>47}"
        print(f"{r['name']:<14}{r['players']:>8}{r['missed']:>7}{r['delivered_mbit_s']:>8}{cost}"
              f"{l['p50']:>8}{l['p99']:>8}{f['p50']:>9}{f['p99']:>9}{ice}{r['load_cpu']['window']:>9}")
    # SRS's published figure (not measured here): WHIP -> WHEP, 1,800 players at 72% of a vCPU at 232 kbit/s.
    srs_ppc = 1800 / 0.72
    srs_gbit = 0.72 / (1800 * 232e3 / 1e9)
    print(f"{'SRS v8 *':<14}{1800:>8}{'':>7}{1800 * 0.232:>8.1f}{'':>7}{srs_gbit:>11.3f}{srs_ppc:>13.0f}"
          f"{1000 / srs_gbit:>16.0f}   * their published figure at 232 kbit/s (72% of a vCPU), not measured here")
    print()

missing = [r for r in fan.values() if r["missed"]] + [r for r in whep if r["missed"]]
for r in missing:
    w = r["missed_why"]
    print(f"missed data: {r['name']}: {r['missed']} players (disconnected {w['disconnected']}, "
          f"breaks {w['breaks']}, short {w['short']}); server keyframe skips {r.get('server_keyframe_skips')}")
if "not pinned" not in pinned:
    busy = [f"{r['name']} ({r['load_cpu']['connect']:.2f} connecting, {r['load_cpu']['window']:.2f} in the window)"
            for r in list(fan.values()) + whep if not r["name"].endswith("-scale")
            and max(r["load_cpu"]["connect"], r["load_cpu"]["window"]) >= 0.9]
    if busy:
        print("load generator saturated (CPU 1 at 90% or more): its figures bound these rows: " + ", ".join(busy))
    else:
        print("load generator: CPU 1 below 90% in every pinned row")

# The targets of issue 13 (1000 players, pinned, 1 Mbit/s); a smaller run only shows the shape.
targets = []
def target(what, value, ok):
    targets.append(f"  {what}: {value} -> {'met' if ok else 'MISSED'}")
if cpu("duet-rtmp@frame") and cpu("nginx-rtmp"):
    a, n = fan["duet-rtmp@frame"], fan["nginx-rtmp"]
    x = a["cpu_s_per_gbit"] / n["cpu_s_per_gbit"]
    target("frame: CPU/Gbit <= 0.8x nginx-rtmp", f"{x:.2f}x", x <= 0.8)
    target("frame: p99 latency <= nginx-rtmp's", f"{a['latency_ms']['p99']} vs {n['latency_ms']['p99']} ms",
           a["latency_ms"]["p99"] <= n["latency_ms"]["p99"])
if "duet-rtmp@40" in fan:
    a = fan["duet-rtmp@40"]
    target("40 ms: <= 0.20 CPU s/Gbit, p99 < 50 ms", f"{a['cpu_s_per_gbit']}, {a['latency_ms']['p99']} ms",
           a["cpu_s_per_gbit"] <= 0.20 and a["latency_ms"]["p99"] < 50)
if "duet-rtmp@350" in fan:
    a = fan["duet-rtmp@350"]
    target("350 ms: <= 0.08 CPU s/Gbit", a["cpu_s_per_gbit"], a["cpu_s_per_gbit"] <= 0.08)
for r in budgeted:
    floor = cpu(f"floor@{r['budget']}")
    if r["name"].startswith("duet") and floor:
        x = r["cpu_s_per_gbit"] / floor
        target(f"{r['name']}: within 1.15x of floor@{r['budget']}", f"{x:.2f}x", x <= 1.15)
for r in storm:
    if r["name"].startswith("duet"):
        target(f"{r['name']}: first frame p99 < 20 ms", f"{r['first_frame_ms']['p99']} ms", r["first_frame_ms"]["p99"] < 20)
for r in scale:
    target(f"{r['name']}: no player misses data", f"{r['missed']} of {r['players']}", r["missed"] == 0 and r["failed"] == 0)
if targets:
    print("targets (issue 13):")
    print("\n".join(targets))

# The targets of issue 14 (WHEP): twice SRS's players per core at 232 kbit/s (2 x 2,500), server-added
# latency p99 under 5 ms, first frame under 100 ms after ICE connects.
targets = []
for r in whep:
    if not r["name"].startswith("whep@") or r["players"] < 100:
        continue
    w = r["whep"]
    if r["kbps"] == 232:
        target(f"{r['name']}: players per core >= 2x SRS's (5,000)", f"{r['players_per_core']:.0f}",
               r["players_per_core"] >= 5000)
    target(f"{r['name']}: latency p99 < 5 ms", f"{r['latency_ms']['p99']} ms", r["latency_ms"]["p99"] < 5)
    target(f"{r['name']}: first frame p99 < 100 ms after ICE connected", f"{w['first_after_ice_ms']['p99']} ms",
           w["first_after_ice_ms"]["p99"] < 100)
if targets:
    print("targets (issue 14, WHEP):")
    print("\n".join(targets))

for r in rows:
    if r["name"] == "hls":
        e = r["live_edge_ms"]
        print(f"hls from memory: {r['segment_requests_per_s']:.0f} segment requests/s over {r['segment_fetchers']} connections"
              f" ({r['segment_bytes']} B each), {r['segment_requests_per_cpu_s']:.0f} per server CPU second"
              f" (failures {r['fetch_failures']}); {r['pollers']} LL-HLS pollers (failures {r['poller_failures']}):"
              f" live-edge distance p50 {e['p50']} ms, p99 {e['p99']} ms, max {e['max']} ms over {r['parts_measured']} parts,"
              f" server {r['pollers_server_cores']} cores, RSS {r['server_rss_mib']} MiB")

if mix:
    print()
    print("mixing: CPU cores of one mixer task (its ffmpeg child, and the server relaying inputs and output) next to one"
          " standalone ffmpeg doing the same mix from files; fps: video frames a player of the mix received per second"
          " (peer: encoded, from -progress)")
    x = mix[0].get("x264") or {}
    print(f"x264 preset {x.get('preset')}, tune {x.get('tune')}, profile {x.get('profile')}, no B-frames: the mixer child's,"
          " given to the peer too")
    print(f"{'inputs':>6}{'output':>11}{'fps':>5}{'kbit/s':>7}{'mixer':>8}{'server':>8}{'Duet':>8}{'peer':>8}{'Duet/peer':>10}"
          f"{'out fps':>8}{'out kbit/s':>11}{'peer fps':>9}{'1st ms':>7}")
    for r in mix:
        print(f"{r['inputs']:>6}{str(r['width']) + 'x' + str(r['height']):>11}{r['fps']:>5}{r['kbps']:>7}"
              f"{r['mixer_cores']:>8.3f}{r['server_cores']:>8.3f}{r['duet_cores']:>8.3f}{r['peer_ffmpeg_cores']:>8.3f}"
              f"{r['duet_over_peer']:>10.2f}{r['output_fps']:>8}{r['output_video_kbps']:>11.0f}{r['peer_fps']:>9}"
              f"{r['output_first_frame_ms']:>7}")
        if r["output_fps"] < 0.95 * r["fps"]:
            print(f"  below the target frame rate: {r['output_fps']} of {r['fps']} fps (the mix does not keep real time)")

if cluster:
    print()
    print("cluster: one stream published to node a, its RTMP players taking node b and node c in turn (each edge pulls it"
          " once from a), against the same players on one node; every node on CPU 0, CPU summed over the nodes")
    print(f"{'run':<16}{'nodes':>6}{'players':>8}{'missed':>7}{'Mbit/s':>8}{'CPU s':>7}{'CPU s/Gbit':>11}{'RSS MiB':>8}"
          f"{'lat p50':>8}{'p99':>8}{'1st p50':>9}{'p99':>9}")
    for r in cluster:
        l, f = r["latency_ms"], r["first_frame_ms"]
        print(f"{r['name']:<16}{r.get('servers', 1):>6}{r['players']:>8}{r['missed']:>7}{r['delivered_mbit_s']:>8}"
              f"{r['server_cpu_s']:>7}{r['cpu_s_per_gbit']:>11}{r['server_rss_mib']:>8}{l['p50']:>8}{l['p99']:>8}"
              f"{f['p50']:>9}{f['p99']:>9}")
    print()

for r in rows:
    if r["name"] == "signaling":
        print(f"signaling ({r.get('servers', 1)} node{'s' if r.get('servers', 1) > 1 else ''}): {r['logged_in']}/{r['sessions']} sessions, {r['logins_per_s']} logins/s, "
              f"{r['bytes_per_session']:.0f} B/session (RSS {r['server_rss_mib']} MiB); "
              f"broadcast to {r['broadcast_to_room']['members'] // 5} members p50 {r['broadcast_to_room']['p50_ms']} ms p99 {r['broadcast_to_room']['p99_ms']} ms; "
              f"stream ADD p50 {r['stream_add_to_room']['p50_ms']} ms p99 {r['stream_add_to_room']['p99_ms']} ms "
              f"({r['stream_add_to_room']['reached']}/{r['stream_add_to_room']['members']} reached)")
EOF
