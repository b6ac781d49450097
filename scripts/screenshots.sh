#!/usr/bin/env bash
# Photographs the main pages of a demo sandbox (examples/demo.rs) with headless
# Chromium at desktop and phone widths, into docs/screenshots/. Needs Debian's
# chromium. Usage: scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
addr=127.0.0.1:8099
out=docs/screenshots
data=$(mktemp -d)
cargo build --release --example demo
target/release/examples/demo "$addr" "$data/data" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -fs "http://$addr/" >/dev/null && break; sleep 0.1; done
id=$(DATA_DIR="$data/data" LISTEN_ADDR=$addr STATS_TOKEN=demo target/release/nodecannon ops show satoshi-lab | sed -n 's/.*"id": "\([0-9a-f]\{32\}\)".*/\1/p' | head -1)
waiting=$(DATA_DIR="$data/data" LISTEN_ADDR=$addr STATS_TOKEN=demo target/release/nodecannon ops show brave-otter-7 | sed -n 's/.*"id": "\([0-9a-f]\{32\}\)".*/\1/p' | head -1)
syncing=$(DATA_DIR="$data/data" LISTEN_ADDR=$addr STATS_TOKEN=demo target/release/nodecannon ops show fresh-tide | sed -n 's/.*"id": "\([0-9a-f]\{32\}\)".*/\1/p' | head -1)
mkdir -p "$out"
shoot() { # name path width height
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$(mktemp -d)" --window-size="$3,$4" \
    --screenshot="$out/$1.png" "http://$addr$2" 2>/dev/null
}
shoot index / 1200 900
shoot launchpad /launchpad 1200 900
shoot operation "/operation/$id" 1200 1500
shoot operation-syncing "/operation/$syncing" 1200 1500
shoot operation-awaiting "/operation/$waiting" 1200 1400
shoot payouts "/operation/$id/payouts" 1200 800
shoot info /info 1200 1100
shoot admin "/stats?token=demo" 1200 1300
shoot index-phone / 390 844
shoot operation-phone "/operation/$waiting" 390 1600
echo "screenshots in $out: $(ls "$out" | tr '\n' ' ')"
