#!/usr/bin/env bash
# CI test of the .deb: build it, install it with dpkg -i, check what it put
# on the machine and that the installed binary validates the packaged
# config, then purge it and check it is gone. Run as root on a Debian-like
# machine; systemd need not be running. Prints PASS/FAIL lines and exits
# non-zero on any failure.
#
# Safe to run repeatedly: the package is purged at the end, also when a
# check fails. It refuses to touch a dropsync package it did not install.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

marker=/var/tmp/dropsync-ci-deb-test.installed
log="$(mktemp)"
failures=0

pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}
# check DESCRIPTION COMMAND...: run COMMAND, PASS or FAIL with its output.
check() {
	local desc="$1"
	shift
	if "$@" >"$log" 2>&1; then
		pass "$desc"
	else
		fail "$desc"
		sed 's/^/    | /' "$log"
	fi
}
# owner_mode PATH USER:GROUP MODE: PATH exists with that owner and mode.
owner_mode() {
	local got
	got="$(stat -c '%U:%G %a' "$1")" || return 1
	echo "$1: $got (want $2 $3)"
	[ "$got" = "$2 $3" ]
}
# depends_satisfied DEB: every "pkg (op version)" in Depends is installed
# in a matching version. Alternatives ("a | b") are not used by our package.
depends_satisfied() {
	local deps dep name op want have ok=0
	deps="$(dpkg-deb -f "$1" Depends)"
	echo "Depends: ${deps:-(none)}"
	[ -n "$deps" ] || return 0
	while IFS= read -r dep; do
		dep="$(echo "$dep" | tr -d ' ')"
		[ -n "$dep" ] || continue
		name="${dep%%(*}"
		have="$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)"
		if [ -z "$have" ]; then
			echo "$name: not installed"
			ok=1
			continue
		fi
		if [ "$dep" != "$name" ]; then
			op="$(echo "$dep" | sed -E 's/.*\(([<>=]+).*/\1/')"
			want="$(echo "$dep" | sed -E 's/.*\([<>=]+([^)]*)\)/\1/')"
			case "$op" in ">=") op=ge ;; "<=") op=le ;; "=") op=eq ;; ">>") op=gt ;; "<<") op=lt ;; esac
			if ! dpkg --compare-versions "$have" "$op" "$want"; then
				echo "$name: have $have, need $op $want"
				ok=1
				continue
			fi
		fi
		echo "$name: $have ok"
	done < <(echo "$deps" | tr ',' '\n')
	return "$ok"
}
# present: dpkg knows dropsync in any state but not-installed (installed,
# config-files after a remove, half-installed after a failure).
present() {
	local st
	st="$(dpkg-query -W -f='${db:Status-Status}' dropsync 2>/dev/null || true)"
	[ -n "$st" ] && [ "$st" != not-installed ]
}
purge() {
	dpkg --purge dropsync >"$log" 2>&1 || {
		sed 's/^/    | /' "$log"
		return 1
	}
	rm -f "$marker"
}
cleanup() {
	if [ -e "$marker" ] && present; then
		echo "cleanup: purging the dropsync package this test installed"
		purge || true
	fi
	rm -f "$log"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ]; then
	echo "FAIL: run as root (dpkg -i needs it)"
	exit 1
fi
if present; then
	if [ -e "$marker" ]; then
		echo "note: purging dropsync left over from an interrupted run of this test"
		purge
	else
		echo "FAIL: a dropsync package is already installed on this machine and this test did not install it; purge it first (dpkg --purge dropsync)"
		exit 1
	fi
fi

version="${DROPSYNC_VERSION:-0.0.0-dev}"
version="${version#v}"
arch="$(go env GOARCH)"
deb="dist/dropsync_${version}_${arch}.deb"

# --- build ---------------------------------------------------------------
if DROPSYNC_VERSION="$version" GOARCH="$arch" bash packaging/build.sh; then
	pass "build.sh built $deb and the .rpm"
else
	fail "build.sh"
	exit 1
fi
check "the .rpm exists" test -s "dist/dropsync_${version}_${arch}.rpm"
check "the .deb's Depends are satisfied here (no apt-get -f offline)" depends_satisfied "$deb"

# --- install -------------------------------------------------------------
touch "$marker"
if dpkg -i "$deb" >"$log" 2>&1; then
	pass "dpkg -i $deb"
	sed 's/^/    | /' "$log"
else
	fail "dpkg -i $deb"
	sed 's/^/    | /' "$log"
	exit 1
fi

check "dropsync version reports $version" sh -c "/usr/bin/dropsync version | tee /dev/stderr | grep -F -- '$version'"
check "dropsync validate -c /etc/dropsync/config.yaml (as root)" /usr/bin/dropsync validate -c /etc/dropsync/config.yaml
if command -v runuser >/dev/null 2>&1; then
	check "dropsync validate as the dropsync user (it can read its config)" \
		runuser -u dropsync -- /usr/bin/dropsync validate -c /etc/dropsync/config.yaml
fi
check "system user dropsync exists, no login shell" sh -c 'getent passwd dropsync | tee /dev/stderr | grep -Eq ":(/usr/sbin/nologin|/sbin/nologin|/bin/false)$"'
check "system group dropsync exists" getent group dropsync
check "/var/lib/dropsync is dropsync:dropsync 0700" owner_mode /var/lib/dropsync dropsync:dropsync 700
check "/var/spool/dropsync is dropsync:dropsync-drop 2750" owner_mode /var/spool/dropsync dropsync:dropsync-drop 2750
check "/var/spool/dropsync/inbox is dropsync:dropsync-drop 2770 (group dropsync-drop may drop files)" owner_mode /var/spool/dropsync/inbox dropsync:dropsync-drop 2770
check "the dropsync user is in group dropsync-drop" sh -c 'id -nG dropsync | tr " " "\n" | grep -qx dropsync-drop'
check "the man page is installed" test -s /usr/share/man/man1/dropsync.1.gz
check "bash completion is installed" test -s /usr/share/bash-completion/completions/dropsync
check "zsh completion is installed" test -s /usr/share/zsh/vendor-completions/_dropsync
check "the Debian copyright file is installed" grep -q "License: Apache-2.0" /usr/share/doc/dropsync/copyright
check "the unit is Type=notify with ExecReload and WatchdogSec" sh -c 'grep -qx "Type=notify" /usr/lib/systemd/system/dropsync.service && grep -q "^ExecReload=" /usr/lib/systemd/system/dropsync.service && grep -q "^WatchdogSec=" /usr/lib/systemd/system/dropsync.service'
check "/etc/dropsync/config.yaml is root:dropsync 0640" owner_mode /etc/dropsync/config.yaml root:dropsync 640
check "/etc/dropsync/config.yaml is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' dropsync | grep -q ' /etc/dropsync/config.yaml '"
check "/usr/bin/dropsync is root:root 0755" owner_mode /usr/bin/dropsync root:root 755
check "the systemd unit is installed" test -f /usr/lib/systemd/system/dropsync.service
if command -v systemd-analyze >/dev/null 2>&1; then
	check "systemd-analyze verify dropsync.service" systemd-analyze verify /usr/lib/systemd/system/dropsync.service
fi

# Reinstalling (the upgrade path) must work on a machine where the user
# and directories already exist.
check "dpkg -i again (upgrade path, idempotent scripts)" dpkg -i "$deb"
check "validate after reinstall" /usr/bin/dropsync validate -c /etc/dropsync/config.yaml

# --- purge ---------------------------------------------------------------
check "dpkg --purge dropsync" purge
check "dpkg no longer knows the package" sh -c '! dpkg-query -W -f="\${db:Status-Status}\n" dropsync 2>/dev/null | grep -vx not-installed'
for p in /usr/bin/dropsync /usr/lib/systemd/system/dropsync.service /etc/dropsync /var/lib/dropsync /var/spool/dropsync; do
	check "$p is gone" test ! -e "$p"
done

echo
if [ "$failures" -gt 0 ]; then
	echo "FAIL: ci-deb-test: $failures check(s) failed"
	exit 1
fi
echo "PASS: ci-deb-test: all checks passed (the dropsync user is kept after purge, by design)"
