#!/usr/bin/env bash
# The Lambda runtime's Python (3.13) on a Debian 12 machine, for compiling the bytecode `sam build` ships (and for
# `make bench`'s cold starts on the runtime's Python).
#
# Why: Lambda mounts the layer read-only (/opt) and the function too (/var/task), so Python cannot cache what it
# compiles there; without shipped bytecode every module of the layer (pydantic, Powertools, requests, ours) is
# compiled again at each cold start (`make bench` measures it). Bytecode belongs to one Python minor version, so it
# must come from 3.13, which Debian 12 does not have. Debian 13 does: its packages are downloaded (not installed)
# with a private apt state into DEST, and the interpreter runs on Debian 13's own C library through that library's
# loader, so nothing on the machine changes. Bytecode is the same on every architecture: this machine's interpreter
# compiles for the arm64 functions.
#
# Usage: dev/fetch_runtime_python.sh DEST (then DEST/bin/python3.13). Does nothing when DEST is complete; exits 1
# saying why when it cannot be had (the build then ships sources only and says so).
set -euo pipefail

DEST=${1:?usage: fetch_runtime_python.sh DEST}
VERSION=3.13
SUITE=trixie
# The interpreter, its standard library, and the C libraries it links that Debian 12 has older or not at all
# (OpenSSL and libffi for ssl, hashlib and ctypes: `make bench` also measures the cold starts on this Python).
PACKAGES=("python$VERSION-minimal" "libpython$VERSION-minimal" "libpython$VERSION-stdlib" libc6 zlib1g libexpat1
  libssl3t64 libffi8)

if [ -x "$DEST/bin/python$VERSION" ] && "$DEST/bin/python$VERSION" -c 'import compileall, ssl' 2>/dev/null; then
  exit 0
fi
for tool in apt-get dpkg-deb dpkg; do
  command -v "$tool" >/dev/null || { echo "fetch_runtime_python: no $tool (not a Debian machine)" >&2; exit 1; }
done
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")

work=$(mktemp -d)
trap 'rm -rf "$work" "$DEST.partial"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/cache" "$work/parts"
touch "$work/status"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" \
  >"$work/sources.list"
# Every apt path private, and the machine's apt.conf.d (its update hooks) left out: nothing outside $work is written.
apt=(apt-get -qq
  -o Dir::State::Lists="$work/lists" -o Dir::State::Status="$work/status"
  -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::Etc::Parts="$work/parts"
  -o Dir::Cache="$work/cache" -o Dir::Cache::Archives="$work/archives"
  -o APT::Architecture="$arch" -o APT::Sandbox::User=root)
"${apt[@]}" update >/dev/null
(cd "$work" && "${apt[@]}" download "${PACKAGES[@]}" >/dev/null)

rm -rf "$DEST.partial"
mkdir -p "$DEST.partial/root" "$DEST.partial/bin"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$DEST.partial/root"; done
loader=$(cd "$DEST.partial/root" && find usr -name 'ld-linux*.so*' -type f | head -n 1)
[ -n "$loader" ] || { echo "fetch_runtime_python: no dynamic loader in Debian $SUITE's libc6" >&2; exit 1; }
cat >"$DEST.partial/bin/python$VERSION" <<EOF
#!/bin/sh
# Python $VERSION from Debian $SUITE, run on its own C library (dev/fetch_runtime_python.sh).
root="\$(dirname "\$(readlink -f "\$0")")/../root"
PYTHONHOME="\$root/usr" exec "\$root/$loader" --library-path "\$root/usr/lib/$multiarch" "\$root/usr/bin/python$VERSION" "\$@"
EOF
chmod +x "$DEST.partial/bin/python$VERSION"
"$DEST.partial/bin/python$VERSION" -c "import sys, compileall, ssl; assert sys.version.startswith('$VERSION.'), sys.version" \
  || { echo "fetch_runtime_python: the fetched Python $VERSION does not run here" >&2; exit 1; }
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
