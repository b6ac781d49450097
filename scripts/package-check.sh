#!/usr/bin/env bash
# Builds the static binary and the Debian package, then installs, upgrades,
# removes and purges the package on THIS machine and checks each step.
# Run as root on a throw-away machine (CI runs it from .ci/run). It needs
# cargo-deb, dpkg-dev, systemd (for systemd-analyze, not as PID 1),
# cloud-init and monero (the wallet round trip); .ci/run installs them.
#
# The static build (the one the package ships; see docs/operator.md):
#   RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu
#   cargo deb --no-build --target x86_64-unknown-linux-gnu
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-gnu
BIN=target/$TARGET/release/nodecannon
ENV_FILE=/etc/nodecannon/nodecannon.env
WALLET_DIR=/var/lib/nodecannon-wallet
SEED_FILE=/root/nodecannon-wallet-seed.check.txt

step() { printf '\n== %s\n' "$*"; }
fail() {
    printf 'package-check: FAILED: %s\n' "$*" >&2
    exit 1
}
ok() { printf '   ok: %s\n' "$*"; }
expect_stat() { # path "owner:group mode"
    local got
    got=$(stat -c '%U:%G %a' "$1" 2>/dev/null) || fail "$1 is missing"
    [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
    ok "$1 $got"
}

[ "$(id -u)" = 0 ] || fail "run as root: it installs and purges the package on this machine"
for tool in cargo-deb dpkg-deb systemd-analyze cloud-init monero-wallet-rpc curl python3; do
    command -v "$tool" >/dev/null || fail "$tool is missing (.ci/run installs it)"
done
# Never touch a real install: only a machine without nodecannon, or CI.
if dpkg -s nodecannon >/dev/null 2>&1 || [ -e /var/lib/nodecannon ] || [ -e $WALLET_DIR/nodecannon.keys ]; then
    if [ "${CI:-}" != true ] || [ -e $WALLET_DIR/nodecannon.keys ]; then
        fail "nodecannon (or a wallet in $WALLET_DIR) is already on this machine; this check would purge it. Run it on a throw-away machine (CI=true allows purging a leftover package, never a wallet)"
    fi
    step "purging a leftover nodecannon package from an earlier run"
    dpkg --purge nodecannon >/dev/null
    rm -rf /var/lib/nodecannon
fi
wallet_dir_existed=no
[ -d $WALLET_DIR ] && wallet_dir_existed=yes

work=$(mktemp -d)
pids=()
# Leave the machine as it was found, also after a failure: no package, and
# no wallet unless there was a wallet directory before (then never a wallet:
# see the guard above).
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if dpkg -s nodecannon >/dev/null 2>&1; then dpkg --purge nodecannon >/dev/null 2>&1 || true; fi
    rm -rf /var/lib/nodecannon /run/nodecannon-wallet-rpc
    if [ "$wallet_dir_existed" = no ]; then rm -rf $WALLET_DIR; fi
    rm -rf "$work"
    rm -f "$SEED_FILE"
}
trap cleanup EXIT

step "static build: RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --target $TARGET"
start=$(date +%s)
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --target $TARGET
echo "   static build took $(($(date +%s) - start)) s"
ldd_out=$(ldd "$BIN" 2>&1 || true)
echo "   ldd: $ldd_out"
case "$ldd_out" in
    *"statically linked"* | *"not a dynamic executable"*) ok "static" ;;
    *) fail "$BIN is not static: $ldd_out" ;;
esac
echo "   size: $(stat -c %s "$BIN") bytes (unstripped; the package strips it)"

step "static binary: runs, and resolves a host name (getaddrinfo without shared NSS modules)"
out=$("$BIN" --env-file /dev/null config check 2>&1) || fail "sandbox config check failed: $out"
ok "sandbox config check"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -u -m http.server --bind 127.0.0.1 "$port" >"$work/http.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q Serving "$work/http.log" 2>/dev/null && break; sleep 0.1; done
cat >"$work/dns.env" <<EOF
XMR_WALLET_RPC_ENDPOINT=http://localhost:$port
XMR_WALLET_RPC_USER=u
XMR_WALLET_RPC_PASS=p
DO_TOKEN=package-check
DO_API_URL=http://localhost:$port
DO_DOMAIN=example.com
PAYOUT_ADDRESS=47rrFgxBSUgdAKa8civGr2brrE5Xm2DHsXrBZR6mA9QENDmdKkPz2ycdBkpTHEB8vuMEJGf1v5yezSnrEX23DLh6KEubSFY
DATA_DIR=$work/data
EOF
"$BIN" --env-file "$work/dns.env" config check >"$work/dns.out" 2>&1 || true
grep -q '"POST /json_rpc' "$work/http.log" || fail "the static binary did not reach http://localhost:$port (wallet): $(cat "$work/dns.out")"
grep -q '"GET /v2/' "$work/http.log" || fail "the static binary did not reach http://localhost:$port (DigitalOcean): $(cat "$work/dns.out")"
ok "wallet and DigitalOcean clients resolved localhost and connected"

step "cargo deb --no-build --target $TARGET"
deb=$(cargo deb --no-build --target $TARGET 2>&1 | tail -n 1)
[ -f "$deb" ] || fail "cargo deb gave no package: $deb"
echo "   $deb: $(stat -c %s "$deb") bytes"
version=$(dpkg-deb -f "$deb" Version)
cp "$deb" "$work/nodecannon-1.deb"
# The same binary with a higher version, for the upgrade (cargo-deb replaces
# the first file, hence the copies; the first one is built again last, so
# target/ ends with the real package).
deb2=$(cargo deb --no-build --target $TARGET --deb-version "${version%-*}-99" 2>&1 | tail -n 1)
cp "$deb2" "$work/nodecannon-2.deb"
cargo deb --no-build --target $TARGET >/dev/null 2>&1
deb=$work/nodecannon-1.deb
deb2=$work/nodecannon-2.deb
dpkg-deb -c "$deb" >"$work/contents"
for f in ./usr/bin/nodecannon ./etc/nodecannon/nodecannon.env ./usr/lib/sysusers.d/nodecannon.conf \
    ./usr/lib/nodecannon/wallet-rpc ./usr/sbin/nodecannon-wallet-create \
    ./lib/systemd/system/nodecannon.service ./lib/systemd/system/nodecannon-wallet-rpc.service \
    ./lib/systemd/system/nodecannon-wallet-rpc-native.service ./usr/share/doc/nodecannon/operator.md; do
    grep -q " $f\$" "$work/contents" || fail "the package lacks $f"
done
ok "package contents"
dpkg-deb -I "$deb" conffiles | grep -qx "$ENV_FILE" || fail "$ENV_FILE is not a conffile"
ok "$ENV_FILE is a conffile"

step "scripts: sh -n (and shellcheck when installed)"
scripts=(packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm
    packaging/wallet-rpc packaging/nodecannon-wallet-create)
python3 -c '
import sys, yaml
for w in yaml.safe_load(open("cloud-init/appliance.yaml"))["write_files"]:
    if w["path"].endswith("nodecannon-appliance-setup"):
        open(sys.argv[1], "w").write(w["content"])
' "$work/appliance-setup"
scripts+=("$work/appliance-setup")
for s in "${scripts[@]}"; do sh -n "$s" || fail "$s: syntax error"; done
if command -v shellcheck >/dev/null; then
    shellcheck -s sh "${scripts[@]}" || fail "shellcheck"
    shellcheck scripts/package-check.sh || fail "shellcheck scripts/package-check.sh"
fi
ok "${#scripts[@]} scripts"
image_unit=$(sed -n 's/^Environment=NODECANNON_WALLET_IMAGE=//p' systemd/nodecannon-wallet-rpc.service)
[ -n "$image_unit" ] || fail "nodecannon-wallet-rpc.service pins no image"
[[ "$image_unit" =~ :v[0-9.]+$ ]] || fail "the wallet image is not pinned to a version: $image_unit"
grep -q "DEFAULT_IMAGE=$image_unit\$" packaging/wallet-rpc || fail "packaging/wallet-rpc pins another image than the unit ($image_unit)"
grep -q "IMAGE:-$image_unit}" packaging/nodecannon-wallet-create || fail "nodecannon-wallet-create pins another image than the unit ($image_unit)"
ok "wallet image pinned once: $image_unit"

step "cloud-init schema --config-file cloud-init/appliance.yaml"
cloud-init schema --config-file cloud-init/appliance.yaml || fail "cloud-init/appliance.yaml is not valid cloud-config"

step "dpkg -i (systemd is not PID 1 here: nothing may need it)"
dpkg -i "$deb" || fail "dpkg -i"
[ "$(dpkg-query -W -f='${Status}' nodecannon)" = "install ok installed" ] || fail "not installed"
ldd /usr/bin/nodecannon 2>&1 | grep -Eq 'statically linked|not a dynamic executable' || fail "/usr/bin/nodecannon is not the static binary"
for u in nodecannon nodecannon-wallet; do
    getent passwd "$u" >/dev/null || fail "no user $u"
    uid=$(id -u "$u")
    [ "$uid" -lt 1000 ] || fail "$u is not a system user (uid $uid)"
    case "$(getent passwd "$u" | cut -d: -f7)" in */nologin | */false) ;; *) fail "$u has a login shell" ;; esac
    ok "system user $u (uid $uid)"
done
expect_stat /etc/nodecannon "root:nodecannon 750"
expect_stat "$ENV_FILE" "nodecannon:nodecannon 600"
expect_stat /var/lib/nodecannon "nodecannon:nodecannon 700"
expect_stat $WALLET_DIR "nodecannon-wallet:nodecannon-wallet 700"
[ -L /etc/systemd/system/multi-user.target.wants/nodecannon.service ] || fail "nodecannon.service is not enabled"
for u in nodecannon-wallet-rpc.service nodecannon-wallet-rpc-native.service; do
    [ ! -e /etc/systemd/system/multi-user.target.wants/$u ] || fail "$u was enabled by the package (nodecannon-wallet-create picks one)"
done
ok "nodecannon.service enabled, the wallet units not (not started: no systemd here, and postinst starts nothing)"

step "the service user reads the env file; an unconfigured install refuses to start"
set +e
out=$(runuser -u nodecannon -- nodecannon config check 2>&1)
rc=$?
set -e
if [ "$rc" != 2 ] || ! grep -q SANDBOX <<<"$out"; then
    fail "unconfigured config check: exit $rc, expected 2 naming SANDBOX: $out"
fi
ok "exit 2: $(tail -n 1 <<<"$out")"
runuser -u nodecannon -- env SANDBOX=1 nodecannon init >"$work/init.out" 2>&1 || fail "nodecannon init: $(cat "$work/init.out")"
grep -q /var/lib/nodecannon "$work/init.out" || fail "init did not use DATA_DIR=/var/lib/nodecannon: $(cat "$work/init.out")"
ok "nodecannon init as nodecannon: $(head -n 1 "$work/init.out")"
echo "package-check $(date -u +%FT%TZ)" >/var/lib/nodecannon/package-check-marker
echo "# package-check: an operator's edit" >>"$ENV_FILE"

step "systemd-analyze verify (installed units)"
# docker.service is not installed here: a stub lets verify follow Requires=.
mkdir -p "$work/units"
if ! [ -f /lib/systemd/system/docker.service ] && ! [ -f /etc/systemd/system/docker.service ]; then
    printf '[Unit]\nDescription=stub\n[Service]\nExecStart=/bin/true\n' >"$work/units/docker.service"
fi
set +e
SYSTEMD_UNIT_PATH="$work/units:" systemd-analyze verify \
    /lib/systemd/system/nodecannon.service \
    /lib/systemd/system/nodecannon-wallet-rpc.service \
    /lib/systemd/system/nodecannon-wallet-rpc-native.service >"$work/verify.out" 2>&1
rc=$?
set -e
cat "$work/verify.out"
# Complaints about other units of this machine are not ours; any line about
# a nodecannon unit is.
if grep -q nodecannon "$work/verify.out"; then fail "systemd-analyze verify found problems in the units"; fi
[ "$rc" = 0 ] || echo "   (exit $rc from units that are not ours)"
ok "verify"

step "systemd-analyze security --offline=true --threshold=20 nodecannon.service (20 = exposure 2.0)"
set +e
systemd-analyze security --offline=true --threshold=20 /lib/systemd/system/nodecannon.service >"$work/security.out" 2>&1
rc=$?
set -e
grep -v '^  ✓\|^✓' "$work/security.out" || true
level=$(sed -n 's/.*Overall exposure level for nodecannon.service: \([0-9.]*\).*/\1/p' "$work/security.out")
[ -n "$level" ] || fail "no exposure level in systemd-analyze output"
[ "$rc" = 0 ] || fail "exposure $level is above 2.0"
ok "exposure $level (threshold 2.0)"

step "wallet: nodecannon-wallet-create --native, then the native unit's own command line"
# A wallet-rpc login and password with characters that need care (spaces,
# quotes, colons; not '#' nor '\', which the helpers refuse).
export XMR_WALLET_RPC_USER=nodecannon
export XMR_WALLET_RPC_PASS='rpc pass "quoted"'
export XMR_WALLET_PASS='wallet "pass" with: spaces'
export XMR_DAEMON_URI=http://127.0.0.1:9
for v in XMR_WALLET_RPC_USER XMR_WALLET_RPC_PASS XMR_WALLET_PASS XMR_DAEMON_URI; do
    printf '%s=%s\n' "$v" "${!v}" >>"$ENV_FILE"
done
env -u XMR_WALLET_PASS NODECANNON_SEED_FILE=$SEED_FILE nodecannon-wallet-create --native >"$work/create.out" 2>&1 ||
    fail "nodecannon-wallet-create: $(cat "$work/create.out")"
cat "$work/create.out"
expect_stat "$SEED_FILE" "root:root 600"
words=$(sed -n 's/^seed (25 words): //p' "$SEED_FILE" | wc -w)
[ "$words" = 25 ] || fail "the seed file holds $words words, not 25"
expect_stat $WALLET_DIR/nodecannon.keys "nodecannon-wallet:nodecannon-wallet 600"
address=$(sed -n 's/^primary address: //p' "$SEED_FILE")
if NODECANNON_SEED_FILE=$SEED_FILE nodecannon-wallet-create --native >/dev/null 2>&1; then fail "a second nodecannon-wallet-create did not refuse"; fi
ok "a second run refuses"
# ExecStartPre and ExecStart of the installed native unit, run as its user,
# offline and on a free port.
unit=/lib/systemd/system/nodecannon-wallet-rpc-native.service
unit_cmd() { # Key: its command line, continuation lines joined, %t and %S resolved
    awk -v k="$1" '
        index($0, k "=") == 1 { on = 1; $0 = substr($0, length(k) + 2) }
        on { cont = sub(/\\$/, ""); printf "%s ", $0; if (!cont) exit }
    ' "$unit" | sed 's|%t|/run|g; s|%S|/var/lib|g'
}
pre=$(unit_cmd ExecStartPre)
main=$(unit_cmd ExecStart)
rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
main=${main/--rpc-bind-port=18083/--rpc-bind-port=$rport}
install -d -m 0700 -o nodecannon-wallet -g nodecannon-wallet /run/nodecannon-wallet-rpc
# shellcheck disable=SC2086
runuser -u nodecannon-wallet -- env XMR_WALLET_RPC_USER="$XMR_WALLET_RPC_USER" XMR_WALLET_RPC_PASS="$XMR_WALLET_RPC_PASS" \
    XMR_WALLET_PASS="$XMR_WALLET_PASS" XMR_DAEMON_URI="$XMR_DAEMON_URI" $pre || fail "ExecStartPre ($pre)"
expect_stat /run/nodecannon-wallet-rpc/wallet-rpc.conf "nodecannon-wallet:nodecannon-wallet 600"
expect_stat /run/nodecannon-wallet-rpc/wallet-pass "nodecannon-wallet:nodecannon-wallet 600"
out=$(runuser -u nodecannon-wallet -- env XMR_WALLET_RPC_PASS='a#b' /usr/lib/nodecannon/wallet-rpc config /run/nodecannon-wallet-rpc/x 2>&1) &&
    fail "wallet-rpc config accepted a '#' in XMR_WALLET_RPC_PASS"
grep -q "must not contain '#'" <<<"$out" || fail "wallet-rpc config with a '#': $out"
ok "a '#' in the RPC password is refused: $out"
# shellcheck disable=SC2086
runuser -u nodecannon-wallet -- $main --offline >"$work/wallet-rpc.out" 2>&1 &
pids+=($!)
got=
for _ in $(seq 120); do
    got=$(curl -s --digest -u "nodecannon:rpc pass \"quoted\"" "http://127.0.0.1:$rport/json_rpc" \
        -d '{"jsonrpc":"2.0","id":"0","method":"get_address","params":{"account_index":0}}' |
        sed -n 's/^ *"address": *"\([0-9A-Za-z]*\)".*/\1/p' | head -n 1) || true
    [ -n "$got" ] && break
    sleep 1
done
[ "$got" = "$address" ] || fail "the native unit's wallet-rpc did not open the wallet with XMR_WALLET_PASS and the RPC login (got '$got'): $(tail -n 5 "$work/wallet-rpc.out")"
ok "wallet-rpc opened the new wallet; login from the env file works; address $address"
curl -s --digest -u "nodecannon:rpc pass \"quoted\"" "http://127.0.0.1:$rport/json_rpc" \
    -d '{"jsonrpc":"2.0","id":"0","method":"stop_wallet"}' >/dev/null || true
wait "${pids[-1]}" 2>/dev/null || true
rm -rf /run/nodecannon-wallet-rpc

step "the Docker wallet unit's command line (a stub docker records it; no image is pulled here)"
mkdir -p "$work/stub"
printf '#!/bin/sh\nprintf "%%s\\n" "$*" >>"%s"\n' "$work/docker.log" >"$work/stub/docker"
chmod +x "$work/stub/docker"
image=$(sed -n 's/^Environment=NODECANNON_WALLET_IMAGE=//p' /lib/systemd/system/nodecannon-wallet-rpc.service)
PATH="$work/stub:$PATH" NODECANNON_WALLET_IMAGE=$image RUNTIME_DIRECTORY=/run/nodecannon-wallet-rpc \
    /usr/lib/nodecannon/wallet-rpc docker-run || fail "wallet-rpc docker-run"
run_line=$(grep '^run ' "$work/docker.log") || fail "wallet-rpc docker-run did not call docker run: $(cat "$work/docker.log")"
echo "   docker $run_line"
for want in "--publish 127.0.0.1:18083:18083" "--user $(id -u nodecannon-wallet):$(id -g nodecannon-wallet)" \
    "--volume $WALLET_DIR:/home/monero/wallet" "--cap-drop=ALL" "$image" \
    "--password-file=/run/nodecannon-wallet-rpc/wallet-pass" "--config-file=/run/nodecannon-wallet-rpc/wallet-rpc.conf"; do
    grep -qF -- "$want" <<<"$run_line" || fail "docker run lacks $want"
done
for secret in "$XMR_WALLET_RPC_PASS" "$XMR_WALLET_PASS"; do
    if grep -qF -- "$secret" "$work/docker.log"; then fail "a secret is on docker's command line"; fi
done
expect_stat /run/nodecannon-wallet-rpc/wallet-pass "nodecannon-wallet:nodecannon-wallet 600"
grep -qxF "rpc-login=$XMR_WALLET_RPC_USER:$XMR_WALLET_RPC_PASS" /run/nodecannon-wallet-rpc/wallet-rpc.conf ||
    fail "wallet-rpc.conf lacks the RPC login"
ok "published on loopback only, runs as nodecannon-wallet, secrets only in 0600 files"
rm -rf /run/nodecannon-wallet-rpc

step "upgrade (dpkg -i of a higher version) keeps the env file, the data and the permissions"
dpkg -i "$deb2" || fail "dpkg -i (upgrade)"
[ "$(dpkg-query -W -f='${Version}' nodecannon)" = "${version%-*}-99" ] || fail "not upgraded"
grep -q "^# package-check: an operator's edit" "$ENV_FILE" || fail "the upgrade replaced the operator's env file"
[ -f /var/lib/nodecannon/package-check-marker ] || fail "the upgrade lost /var/lib/nodecannon"
[ -f $WALLET_DIR/nodecannon.keys ] || fail "the upgrade lost the wallet"
expect_stat "$ENV_FILE" "nodecannon:nodecannon 600"
expect_stat /var/lib/nodecannon "nodecannon:nodecannon 700"

step "dpkg -r keeps the env file and the data"
dpkg -r nodecannon || fail "dpkg -r"
[ "$(dpkg-query -W -f='${Status}' nodecannon)" = "deinstall ok config-files" ] || fail "unexpected state after remove"
[ ! -e /usr/bin/nodecannon ] || fail "/usr/bin/nodecannon is still there"
grep -q "^# package-check: an operator's edit" "$ENV_FILE" || fail "remove lost the env file"
[ -f /var/lib/nodecannon/package-check-marker ] || fail "remove lost /var/lib/nodecannon"
[ -n "$(ls -A /var/lib/nodecannon)" ] || fail "remove emptied /var/lib/nodecannon"
ok "env file and /var/lib/nodecannon kept"

step "dpkg -i again after remove, then dpkg --purge deletes env file and data, keeps the wallet"
dpkg -i "$deb" >/dev/null || fail "dpkg -i after remove"
grep -q "^# package-check: an operator's edit" "$ENV_FILE" || fail "reinstall replaced the env file"
[ -L /etc/systemd/system/multi-user.target.wants/nodecannon.service ] || fail "reinstall did not re-enable nodecannon.service"
dpkg --purge nodecannon || fail "dpkg --purge"
dpkg -s nodecannon >/dev/null 2>&1 && fail "still known to dpkg after purge"
[ ! -e /etc/nodecannon ] || fail "/etc/nodecannon survived the purge"
[ ! -e /var/lib/nodecannon ] || fail "/var/lib/nodecannon survived the purge"
[ ! -e /etc/systemd/system/multi-user.target.wants/nodecannon.service ] || fail "the enable link survived the purge"
[ -f $WALLET_DIR/nodecannon.keys ] || fail "purge deleted the wallet"
ok "purged; wallet kept"

printf '\npackage-check: all checks passed\n'
