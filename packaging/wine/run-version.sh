#!/usr/bin/env bash
# Runs a Windows build of dropsync under wine: `dropsync.exe version` and
# `dropsync.exe --help` must answer; each further argument, a Windows test
# binary of a package (go test -c), runs its tests named *Windows*. Debian's wine 8 lacks ProcessPrng in
# bcryptprimitives.dll, which Go 1.22+ binaries need at start, so a stub
# built here with mingw-w64 (bcryptprimitives.c) goes into the throw-away
# wine prefix's system32.
# Usage: run-version.sh dist/dropsync.exe [daemon.test.exe ...]
# Needs: wine64 (Debian package wine64), x86_64-w64-mingw32-gcc.
set -euo pipefail

exe="$(realpath "$1")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wine=""
for w in wine64 /usr/lib/wine/wine64 wine; do
	if command -v "$w" >/dev/null 2>&1; then
		wine="$(command -v "$w")"
		break
	fi
done
if [ -z "$wine" ]; then
	echo "run-version.sh: no wine here (apt-get install wine64)" >&2
	exit 1
fi

prefix="$(mktemp -d)"
wineserver="$(dirname "$wine")/wineserver"
command -v "$wineserver" >/dev/null 2>&1 || wineserver=wineserver
trap '"$wineserver" -k >/dev/null 2>&1 || true; rm -rf "$prefix"' EXIT
export WINEPREFIX="$prefix" WINEDEBUG=-all WINEARCH=win64
export WINEDLLOVERRIDES="bcryptprimitives=n;mscoree,mshtml="

echo "==> wine prefix (wineboot)"
"$wine" wineboot --init >/dev/null 2>&1 || true
echo "==> bcryptprimitives.dll stub with ProcessPrng (mingw-w64)"
x86_64-w64-mingw32-gcc -shared -O2 -o "$prefix/drive_c/windows/system32/bcryptprimitives.dll" \
	"$here/bcryptprimitives.c" "$here/bcryptprimitives.def"

echo "==> $wine dropsync.exe version"
out="$("$wine" "$exe" version 2>&1 | tr -d '\r')"
echo "$out"
case "$out" in
*"windows/amd64"*) ;;
*)
	echo "run-version.sh: dropsync.exe version did not report windows/amd64" >&2
	exit 1
	;;
esac
echo "==> $wine dropsync.exe --help"
"$wine" "$exe" --help 2>&1 | tr -d '\r' | grep -q "Commands:"
for test in "${@:2}"; do
	echo "==> $wine $(basename "$test") -test.run Windows"
	out="$("$wine" "$(realpath "$test")" -test.run Windows -test.v 2>&1 | tr -d '\r' | tr -cd '[:print:]\n' || true)"
	echo "$out"
	echo "$out" | grep -qx PASS
done
echo "PASS: dropsync.exe runs under wine"
