#!/usr/bin/env bash
# Builds Duet's Debian package with Debian's own tools (dpkg-shlibdeps for the library
# dependencies, dpkg-deb for the archive): the release `duet` binary, the systemd unit and the
# default /etc/duet/duet.toml from deploy/debian/, the maintainer scripts (a `duet` system user,
# /var/lib/duet), README and the licence notice. Prints the path of the .deb.
#
#   scripts/deb.sh                      # cargo build --release, then target/debian/duet_VERSION_ARCH.deb
#   DUET_BIN=target/debug/duet scripts/deb.sh   # package a binary already built
#
# Install with `apt install ./target/debian/duet_*.deb` (or dpkg -i); see README, Production.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in dpkg-deb dpkg-shlibdeps dpkg-architecture; do
  command -v "$tool" >/dev/null || { echo "deb: $tool missing (scripts/setup.sh installs dpkg-dev)" >&2; exit 1; }
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || { echo "deb: no workspace version in Cargo.toml" >&2; exit 1; }
arch=$(dpkg --print-architecture)
bin=${DUET_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --locked --bin duet >&2
  bin=${CARGO_TARGET_DIR:-target}/release/duet
fi
[ -x "$bin" ] || { echo "deb: $bin is not an executable" >&2; exit 1; }

out=target/debian
root=$out/duet_${version}_${arch}
rm -rf "$root"
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/duet" "$root/usr/share/doc/duet"
install -m 0755 "$bin" "$root/usr/bin/duet"
strip --strip-unneeded "$root/usr/bin/duet" 2>/dev/null || true
install -m 0644 deploy/debian/duet.service "$root/lib/systemd/system/duet.service"
install -m 0640 deploy/debian/duet.toml "$root/etc/duet/duet.toml"
install -m 0644 README.md "$root/usr/share/doc/duet/README.md"
install -m 0644 deploy/grafana/duet.json "$root/usr/share/doc/duet/grafana-dashboard.json"
cat > "$root/usr/share/doc/duet/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: duet

Files: *
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
for script in postinst prerm postrm; do
  install -m 0755 "deploy/debian/$script" "$root/DEBIAN/$script"
done
echo /etc/duet/duet.toml > "$root/DEBIAN/conffiles"

# The shared libraries the binary links (libc, libopus, libvo-aacenc, ...), as package
# dependencies. dpkg-shlibdeps reads debian/control of the folder it runs in: give it one.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debian"
printf 'Source: duet\n\nPackage: duet\nArchitecture: any\n' > "$work/debian/control"
binary=$(pwd)/$root/usr/bin/duet
depends=$(cd "$work" && dpkg-shlibdeps -O "$binary" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "deb: dpkg-shlibdeps found no dependencies of $bin" >&2; exit 1; }

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<EOF
Package: duet
Version: $version
Architecture: $arch
Maintainer: Duet developers <duet@localhost>
Installed-Size: $size
Depends: $depends, adduser
Recommends: ffmpeg
Section: net
Priority: optional
Description: self-hosted real-time audio/video server
 Duet serves rooms, token login, live streams and messages to WeChat
 mini-programs and browsers: signaling over WebSocket, RTMP, HTTP-FLV, fMP4,
 HLS and WebRTC (WHIP/WHEP), with an HTTP API, webhooks and a web console.
 The service runs as the user duet with its settings in /etc/duet/duet.toml
 and its state in /var/lib/duet. ffmpeg is needed for stream mixing only.
EOF

dpkg-deb --build --root-owner-group "$root" "$out/" >&2
echo "$out/duet_${version}_${arch}.deb"
