#!/usr/bin/env bash
# One-command benchmark of nodecannon on a large seeded sandbox:
#   bash bench/run.sh
# Builds release, seeds OPS/ACTIVE operations into a temp DATA_DIR, starts
# `nodecannon serve` on it and measures start-up time, RSS, throughput and
# latency (wrk) of the public pages against a cheap route of the same binary.
# Not run in CI. Needs curl and wrk (installed with apt-get when missing).
set -euo pipefail

OPS=${OPS:-10000}
ACTIVE=${ACTIVE:-1000}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
TOKEN=bench-stats-token-0123456789abcdef

cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null; else sudo apt-get install -y wrk >/dev/null; fi
fi
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

echo "building release" >&2
[ "${BUILD:-1}" = 0 ] || cargo build --release --bin nodecannon >&2
BIN=target/release/nodecannon

WORK=$(mktemp -d)
SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# A clean sandbox environment: nothing from the caller's env files.
# Background jobs are scheduled out of the way (1 January only) so they do not
# run during the measurement; one health pass is run on purpose below.
ENV=(env -i PATH="$PATH" DATA_DIR="$WORK/data" SANDBOX=1
    LISTEN_ADDR="127.0.0.1:$PORT" STATS_TOKEN="$TOKEN" RUST_LOG=warn
    LAUNCH_SCHEDULE="0 0 4 1 1 *" PAYOUT_SCHEDULE="0 5 4 1 1 *"
    HEALTH_SCHEDULE="0 10 4 1 1 *" RECONCILE_SCHEDULE="0 15 4 1 1 *"
    BACKUP_SCHEDULE="0 20 4 1 1 *")
cd "$WORK"

echo "seeding $OPS operations, $ACTIVE active" >&2
SEED_OUT=$("${ENV[@]}" "$OLDPWD/$BIN" dev seed --operations "$OPS" --active "$ACTIVE")
echo "$SEED_OUT" >&2
SEED_SECS=$(echo "$SEED_OUT" | sed -n 's/^took \([0-9.]*\) s$/\1/p')

BASE="http://127.0.0.1:$PORT"
t0=$(date +%s%N)
"${ENV[@]}" "$OLDPWD/$BIN" serve 2>"$WORK/server.log" &
SERVER=$!
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/" || true)" != 000 ]; do
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.005
done
t1=$(date +%s%N)
START_MS=$(( (t1 - t0) / 1000000 ))
cd "$OLDPWD"

rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER/status"; }
calls() { # total client calls; the per-client lines go to $WORK/calls.<tag>
    curl -s -H "Authorization: Bearer $TOKEN" "$BASE/metrics" |
        grep '^nodecannon_client_calls_total' >"$WORK/calls.$1" || true
    awk '{s += $NF} END {print s + 0}' "$WORK/calls.$1"
}

IDLE_RSS=$(rss)
# Warm the node cache with one health pass (the admin API runs it in the server).
curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" "$BASE/admin/jobs/health"
NODES=$(curl -s "$BASE/api/nodes")
# /api/nodes does not show operation ids; the index links them.
INDEX=$(curl -s "$BASE/")
OP_ID=$(grep -o 'href="/operation/[0-9a-f]\{32\}"' <<<"$INDEX" | sed -n '1s|.*/operation/\([0-9a-f]*\)"|\1|p')
CODENAME=$(grep -o '"codename":"[^"]*"' <<<"$NODES" | sed -n '1s/.*:"\(.*\)"/\1/p')
echo "active operation $OP_ID, codename $CODENAME" >&2
[ -n "$OP_ID" ] || { echo "no active operation in /api/nodes" >&2; exit 1; }

ROUTES=(
    "/robots.txt"
    "/static/style.css"
    "/"
    "/operation/$OP_ID"
    "/api/nodes"
    "/api/info/$CODENAME"
    "gzip:/"
    "gzip:/operation/$OP_ID"
    "gzip:/api/nodes"
)
# "gzip:" routes are asked with Accept-Encoding: gzip, as browsers do.
path_of() { echo "${1#gzip:}"; }
hdr_of() { [ "${1#gzip:}" != "$1" ] && echo "Accept-Encoding: gzip" || echo "X-Plain: 1"; }
for r in "${ROUTES[@]}"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "$(hdr_of "$r")" "$BASE$(path_of "$r")")
    [ "$code" = 200 ] || { echo "$r answered $code" >&2; exit 1; }
done

CALLS_BEFORE=$(calls before)
PEAK_RSS=$IDLE_RSS
declare -A RPS P50 P99
to_ms() { # wrk latency (e.g. 812.00us, 1.23ms, 1.01s) to milliseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.2f", n }'
}
for r in "${ROUTES[@]}"; do
    echo "wrk $r" >&2
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "$(hdr_of "$r")" "$BASE$(path_of "$r")" >"$WORK/wrk.txt" &
    W=$!
    while kill -0 "$W" 2>/dev/null; do
        now=$(rss)
        PEAK_RSS=$(awk -v a="$PEAK_RSS" -v b="$now" 'BEGIN {print (b > a) ? b : a}')
        sleep 0.5
    done
    wait "$W"
    if grep -q "Non-2xx" "$WORK/wrk.txt"; then
        echo "$r: $(grep Non-2xx "$WORK/wrk.txt")" >&2
    fi
    RPS[$r]=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$WORK/wrk.txt")
    P50[$r]=$(to_ms "$(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt")")
    P99[$r]=$(to_ms "$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")")
done
CALLS_AFTER=$(calls after)
echo "client calls by client, before -> after:" >&2
diff "$WORK/calls.before" "$WORK/calls.after" >&2 || true

CEIL=${RPS["/robots.txt"]}
BIN_MB=$(awk -v b="$(stat -c %s "$BIN")" 'BEGIN {printf "%.1f", b / 1048576}')

echo
echo "## nodecannon bench: $OPS operations ($ACTIVE active), wrk -t$THREADS -c$CONNS -d$DURATION"
echo
echo "| route | req/s | p50 ms | p99 ms | req/s vs ceiling | bytes |"
echo "|---|---:|---:|---:|---:|---:|"
for r in "${ROUTES[@]}"; do
    name=$r
    [ "$r" = "/operation/$OP_ID" ] && name="/operation/{id} (active)"
    [ "$r" = "/api/info/$CODENAME" ] && name="/api/info/{codename}"
    [ "$r" = "/robots.txt" ] && name="/robots.txt (ceiling: a constant answer)"
    [ "$r" = "gzip:/" ] && name="/ (gzip, compressed once per list build)"
    [ "$r" = "gzip:/operation/$OP_ID" ] && name="/operation/{id} (gzip, made once, masked per response)"
    [ "$r" = "gzip:/api/nodes" ] && name="/api/nodes (gzip, compressed once)"
    ratio=$(awk -v a="${RPS[$r]}" -v c="$CEIL" 'BEGIN {printf "%.3f", a / c}')
    bytes=$(curl -s -H "$(hdr_of "$r")" "$BASE$(path_of "$r")" | wc -c)
    echo "| \`$name\` | ${RPS[$r]} | ${P50[$r]} | ${P99[$r]} | $ratio | $bytes |"
done
echo
echo "| measure | value |"
echo "|---|---:|"
echo "| seed $OPS/$ACTIVE | ${SEED_SECS} s |"
echo "| start-up to first answered request | ${START_MS} ms |"
echo "| idle RSS (after start-up) | ${IDLE_RSS} MiB |"
echo "| peak RSS under load | ${PEAK_RSS} MiB |"
echo "| binary size | ${BIN_MB} MiB |"
echo "| client calls during the page load (nodecannon_client_calls_total) | $((CALLS_AFTER - CALLS_BEFORE)) ($CALLS_BEFORE before, $CALLS_AFTER after) |"
