#!/usr/bin/env bash
# Tests Duet's Debian package on this machine, for real: builds it (scripts/deb.sh), checks the
# systemd unit (systemd-analyze verify), installs it with dpkg, then starts the installed binary
# the way the unit does (its ExecStart, as its User, with the installed /etc/duet/duet.toml and
# /var/lib/duet; systemd itself does not run here) on free loopback ports, and checks that it
# serves and that the CLI reads the same registry. Then reinstalls (the config file and the apps
# stay) and purges (the binary and user go, /var/lib/duet stays). It leaves the machine as it
# found it. Needs root (dpkg); says so and stops otherwise.
#
#   scripts/deb-test.sh                         # builds the release binary first
#   DUET_BIN=target/debug/duet scripts/deb-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "deb-test: skipped: installing a package needs root" >&2
  exit 0
fi
fail() { echo "deb-test: FAILED: $*" >&2; exit 1; }
if dpkg-query -W -f='${Status}' duet 2>/dev/null | grep -q "installed"; then
  fail "a duet package is installed on this machine already; remove it (dpkg --purge duet) and rerun"
fi
state_existed=$([ -e /var/lib/duet ] && echo yes || echo no)
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  dpkg --purge duet >/dev/null 2>&1 || true
  [ "$state_existed" = yes ] || rm -rf /var/lib/duet
  rm -rf "$work"
}
trap cleanup EXIT

deb=$(scripts/deb.sh | tail -1)
echo "deb-test: built $deb" >&2
dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb"
[ "$(dpkg-query -W -f='${Status}' duet)" = "install ok installed" ] || fail "not installed"

# What the package put in place.
unit=/lib/systemd/system/duet.service
[ -x /usr/bin/duet ] || fail "/usr/bin/duet"
/usr/bin/duet --version | grep -q "^duet " || fail "duet --version"
getent passwd duet >/dev/null || fail "no user duet"
[ "$(stat -c %U:%a /var/lib/duet)" = "duet:750" ] || fail "/var/lib/duet is $(stat -c %U:%a /var/lib/duet)"
[ "$(stat -c %U:%G:%a /etc/duet/duet.toml)" = "root:duet:640" ] || fail "/etc/duet/duet.toml is $(stat -c %U:%G:%a /etc/duet/duet.toml)"
grep -qx "/etc/duet/duet.toml" /var/lib/dpkg/info/duet.conffiles || fail "the config is not a conffile"
verify=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify warns: $verify"
# Hardened: systemd's own exposure score (0 best, 10 worst) stays in its "OK" band.
exposure=$(systemd-analyze security --offline=true "$unit" 2>&1 | sed -n 's/.*Overall exposure level for duet.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security gave no exposure level"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.5) }' || fail "the unit's exposure level is $exposure (above 2.5)"
echo "deb-test: unit exposure level $exposure (systemd-analyze security)" >&2

# The unit's command, as its user.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
[ "$exec_start" = "/usr/bin/duet serve --config /etc/duet/duet.toml" ] || fail "ExecStart is '$exec_start'"
read -r http_port rtmp_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
serve() {
  (cd /var/lib/duet && exec setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs -- \
    $exec_start --http "127.0.0.1:$http_port" --rtmp "127.0.0.1:$rtmp_port") >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || fail "the installed duet exited: $(cat "$work/err")"
    sleep 0.1
  done
  fail "the installed duet did not answer /healthz in 10 s: $(cat "$work/err")"
}
stop() {
  kill -TERM "$pid"
  local status=0
  wait "$pid" || status=$?
  pid=""
  [ "$status" -eq 0 ] || fail "duet exited $status after SIGTERM: $(cat "$work/err")"
}
as_duet() { setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"; }

serve
app_id=$(sed -n 's/^ *AppID *\([0-9]*\).*/\1/p' "$work/out" | head -1)
[ -n "$app_id" ] || fail "no AppID in the first start's banner: $(cat "$work/out")"
grep -q "Created the default app" "$work/out" || fail "the first start created no app: $(cat "$work/out")"
curl -fsS "http://127.0.0.1:$http_port/metrics" | grep -qx "duet_apps 1" || fail "/metrics has no duet_apps 1"
[ "$(stat -c %U "$(find /var/lib/duet -maxdepth 1 -name '*.sqlite*' | head -1)")" = duet ] \
  || fail "the registry in /var/lib/duet is not the service user's: $(ls -l /var/lib/duet)"
as_duet /usr/bin/duet --config /etc/duet/duet.toml app list | grep -q "$app_id" || fail "duet app list lacks $app_id"
stop

# A reinstall (an upgrade does the same): the edited config and the registry stay.
echo '# edited by the operator' >> /etc/duet/duet.toml
dpkg -i "$deb" >/dev/null || fail "dpkg -i again"
grep -q "edited by the operator" /etc/duet/duet.toml || fail "the reinstall replaced the edited config"
serve
grep -q "Created the default app" "$work/out" && fail "the second start registered another app"
grep -q "AppID *$app_id" "$work/out" || fail "the second start serves another default app: $(cat "$work/out")"
grep -q "ServerSecret *[0-9a-f]\{32\}" "$work/out" && fail "the second start showed the secret again"
as_duet /usr/bin/duet --config /etc/duet/duet.toml app list | grep -q "$app_id" || fail "the app is gone after reinstalling"
stop

# Purge: the package, its config and its user go; the state stays for the operator to delete.
dpkg --purge duet >/dev/null || fail "dpkg --purge"
[ ! -e /usr/bin/duet ] && [ ! -e "$unit" ] && [ ! -e /etc/duet/duet.toml ] || fail "files left after purge"
getent passwd duet >/dev/null && fail "the user duet is left after purge"
[ -d /var/lib/duet ] || fail "purge deleted /var/lib/duet"
echo "deb-test: ok: $deb installs, serves as its unit runs it, reinstalls and purges" >&2
