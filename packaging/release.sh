#!/usr/bin/env bash
# Builds release archives with checksums into dist/release/:
#
#   dropsync_<version>_linux_amd64.tar.gz    (gcc)
#   dropsync_<version>_linux_arm64.tar.gz    (aarch64-linux-gnu-gcc: Debian gcc-aarch64-linux-gnu)
#   dropsync_<version>_windows_amd64.zip     (x86_64-w64-mingw32-gcc: Debian gcc-mingw-w64-x86-64)
#   SHA256SUMS
#
# dropsync needs cgo (SQLite), so every platform needs its C compiler;
# macOS is built on a Mac (packaging/README.md). Each archive holds the
# binary, LICENSE, README.md, config.example.yaml, the man page and shell
# completions (Linux) or WINDOWS.md (Windows), and the systemd unit (Linux).
#
# Environment: DROPSYNC_VERSION (default 0.0.0-dev), PLATFORMS (default
# "linux/amd64 linux/arm64 windows/amd64"). Prints each build's time.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
version="${DROPSYNC_VERSION:-0.0.0-dev}"
version="${version#v}"
platforms="${PLATFORMS:-linux/amd64 linux/arm64 windows/amd64}"
out="dist/release"
rm -rf "$out"
mkdir -p "$out"
epoch="$(git log -1 --format=%ct 2>/dev/null || date +%s)"

# Man page and completions, from a build for this machine.
host="$(mktemp -d)"
trap 'rm -rf "$host"' EXIT
GOOS= GOARCH= CGO_ENABLED=1 go build -o "$host/dropsync" \
	-ldflags "-X github.com/dropsync/dropsync/internal/version.Version=$version" ./cmd/dropsync
"$host/dropsync" man >"$host/dropsync.1"
"$host/dropsync" completion bash >"$host/dropsync.bash"
"$host/dropsync" completion zsh >"$host/_dropsync"

for p in $platforms; do
	goos="${p%/*}"
	goarch="${p#*/}"
	case "$p" in
	linux/amd64) cc="${CC_LINUX_AMD64:-gcc}" ;;
	linux/arm64) cc="${CC_LINUX_ARM64:-aarch64-linux-gnu-gcc}" ;;
	windows/amd64) cc="${CC_WINDOWS_AMD64:-x86_64-w64-mingw32-gcc}" ;;
	*)
		echo "release.sh: no C cross compiler known for $p" >&2
		exit 1
		;;
	esac
	if ! command -v "$cc" >/dev/null 2>&1; then
		echo "release.sh: $p needs the C compiler $cc (see the header of this script)" >&2
		exit 1
	fi
	name="dropsync_${version}_${goos}_${goarch}"
	stage="$host/$name"
	mkdir -p "$stage"
	exe=dropsync
	[ "$goos" = windows ] && exe=dropsync.exe
	start=$(date +%s)
	GOOS="$goos" GOARCH="$goarch" CGO_ENABLED=1 CC="$cc" go build -trimpath \
		-ldflags "-s -w -X github.com/dropsync/dropsync/internal/version.Version=$version" \
		-o "$stage/$exe" ./cmd/dropsync
	echo "==> $p built in $(($(date +%s) - start))s"
	cp LICENSE README.md config.example.yaml "$stage/"
	if [ "$goos" = windows ]; then
		cp packaging/WINDOWS.md "$stage/"
		(cd "$host" && python3 -m zipfile -c "$root/$out/$name.zip" "$name/")
	else
		mkdir -p "$stage/completions"
		cp "$host/dropsync.1" "$stage/"
		cp "$host/dropsync.bash" "$host/_dropsync" "$stage/completions/"
		cp packaging/dropsync.service "$stage/"
		tar -C "$host" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
			-czf "$out/$name.tar.gz" "$name"
	fi
done
(cd "$out" && shopt -s nullglob && sha256sum -- *.tar.gz *.zip >SHA256SUMS)
echo "==> $out:"
cat "$out/SHA256SUMS"
