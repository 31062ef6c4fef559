#!/usr/bin/env bash
# Builds the dropsync binary and its .deb and .rpm packages into dist/:
#
#   dist/dropsync                          the linux binary
#   dist/dropsync_<version>_<arch>.deb
#   dist/dropsync_<version>_<arch>.rpm
#
# Environment: DROPSYNC_VERSION (default 0.0.0-dev; a leading "v" is
# dropped), GOARCH (default: the host's). cgo is on (SQLite), so building
# for another architecture needs a C cross compiler in CC.
# Works from any directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

version="${DROPSYNC_VERSION:-0.0.0-dev}"
version="${version#v}"
export DROPSYNC_VERSION="$version"
export GOOS=linux
GOARCH="${GOARCH:-$(go env GOARCH)}"
export GOARCH
export CGO_ENABLED=1

if [ ! -f config.example.yaml ]; then
	echo "build.sh: config.example.yaml is missing at the repository root; the package ships it as /etc/dropsync/config.yaml" >&2
	exit 1
fi

mkdir -p dist
echo "==> go build dropsync $version ($GOOS/$GOARCH)"
go build -trimpath \
	-ldflags "-s -w -X github.com/dropsync/dropsync/internal/version.Version=$version" \
	-o dist/dropsync ./cmd/dropsync

# The newest glibc symbol version the binary needs; packaging/nfpm.yaml
# declares libc6/glibc >= 2.34, so warn if this moved past it.
if command -v objdump >/dev/null 2>&1; then
	glibc="$(objdump -T dist/dropsync | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n1 || true)"
	echo "    needs ${glibc:-no glibc symbols}"
	if [ -n "$glibc" ] && [ "$(printf '%s\n' GLIBC_2.34 "$glibc" | sort -V | tail -n1)" != GLIBC_2.34 ]; then
		echo "build.sh: warning: the binary needs $glibc, newer than the declared glibc >= 2.34; raise it in packaging/nfpm.yaml" >&2
	fi
fi

nfpm="$(command -v nfpm || true)"
if [ -z "$nfpm" ]; then
	gobin="$(go env GOBIN)"
	[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
	nfpm="$gobin/nfpm"
	if [ ! -x "$nfpm" ]; then
		echo "==> installing nfpm v2.45.2 into $gobin"
		# nfpm is built for this machine, whatever GOOS/GOARCH the package targets.
		GOOS= GOARCH= CGO_ENABLED=0 go install github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
	fi
fi

for packager in deb rpm; do
	target="dist/dropsync_${version}_${GOARCH}.$packager"
	rm -f "$target"
	echo "==> nfpm $packager -> $target"
	"$nfpm" package --config packaging/nfpm.yaml --packager "$packager" --target "$target"
done
echo "==> done: dist/dropsync_${version}_${GOARCH}.deb dist/dropsync_${version}_${GOARCH}.rpm"
