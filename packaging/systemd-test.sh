#!/usr/bin/env bash
# The .deb under a real systemd: boots systemd 252 as PID 1 in a
# systemd-nspawn container on a minimal Debian bookworm root (debootstrap),
# installs the package, and checks what an operator sees:
#
#   - systemctl start returns once dropsync is READY (Type=notify), and
#     systemctl status shows its STATUS line;
#   - a file dropped into the packaged spool is delivered to
#     `dropsync fake-server`;
#   - systemctl reload adds a watch without a restart (same MainPID), and a
#     broken configuration is refused while the old one keeps running;
#   - an injected error (a file over max_file_size) is stored at priority
#     err, so `journalctl -u dropsync -p err` shows it, and no journal line
#     carries a timestamp of dropsync's own;
#   - systemctl stop logs the start of the drain and stops cleanly;
#   - a watch under /home (ProtectHome=yes): validate predicts it, and the
#     failed start names the setting and the drop-in that fixes it.
#
# Run as root on a Debian-like machine with the packages debootstrap and
# systemd-container (apt-get install debootstrap systemd-container). The
# root file system is kept in $WORK (default /var/tmp/dropsync-systemd-test)
# and reused by the next run. Prints PASS/FAIL lines and each step's time;
# exits non-zero on a failure or when the container cannot boot here.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="${WORK:-/var/tmp/dropsync-systemd-test}"
rootfs="$work/rootfs"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
t0=$(date +%s)
step() { echo "==> [$(($(date +%s) - t0))s] $*"; }

if [ "$(id -u)" != 0 ]; then
	echo "FAIL: run as root (debootstrap and systemd-nspawn need it)"
	exit 1
fi
for tool in debootstrap systemd-nspawn; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "FAIL: $tool is missing (apt-get install debootstrap systemd-container)"
		exit 1
	fi
done

# --- the root file system ---------------------------------------------------
mkdir -p "$work"
if [ ! -e "$rootfs/.dropsync-complete" ]; then
	step "debootstrap bookworm (minbase + systemd) into $rootfs"
	rm -rf "$rootfs"
	debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
		tail -20 "$work/debootstrap.log"
		echo "FAIL: debootstrap"
		exit 1
	}
	echo dropsynctest >"$rootfs/etc/hostname"
	touch "$rootfs/.dropsync-complete"
else
	step "reusing $rootfs"
fi

# --- the package ------------------------------------------------------------
version="${DROPSYNC_VERSION:-0.0.0-dev}"
version="${version#v}"
arch="$(go env GOARCH)"
deb="dist/dropsync_${version}_${arch}.deb"
if [ ! -s "$deb" ] || [ -n "${REBUILD:-}" ]; then
	step "build $deb"
	DROPSYNC_VERSION="$version" bash packaging/build.sh >"$work/build.log" 2>&1 || {
		tail -20 "$work/build.log"
		echo "FAIL: build.sh"
		exit 1
	}
fi
cp "$deb" "$rootfs/root/dropsync.deb"

# --- the test, run by systemd inside the container at boot ------------------
cat >"$rootfs/usr/local/sbin/dropsync-systemd-test" <<'INNER'
#!/bin/bash
# Runs inside the container as a oneshot unit, then powers it off.
set -u
result=/var/tmp/dropsync-systemd-test.result
: >"$result"
t0=$(date +%s)
pass() { echo "PASS: [$(($(date +%s) - t0))s] $*" >>"$result"; }
fail() { echo "FAIL: [$(($(date +%s) - t0))s] $*" >>"$result"; }
check() {
	local desc="$1"
	shift
	if out="$("$@" 2>&1)"; then pass "$desc"; else
		fail "$desc"
		echo "$out" | tail -20 | sed 's/^/    | /' >>"$result"
	fi
}
# wait_for SECONDS DESC COMMAND...: poll COMMAND until it succeeds.
wait_for() {
	local limit=$(($(date +%s) + $1)) desc="$2"
	shift 2
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -gt "$limit" ]; then
			fail "$desc (gave up)"
			return 1
		fi
		sleep 0.2
	done
	pass "$desc"
}
journal() { journalctl -b -u dropsync --no-pager -o cat "$@"; }
cfg=/etc/dropsync/config.yaml
config() { # config [EXTRA WATCH YAML]
	cat >"$cfg" <<CFG
state_dir: /var/lib/dropsync
log: {level: info, format: text}
targets:
  docs:
    type: sensenet
    url: http://127.0.0.1:8765
    auth: {type: bearer, token: sensenet-demo-token}
    max_file_size: 64KiB
watches:
  - path: /var/spool/dropsync/inbox
    target: docs
    destination: {path: /Root/Content/Documents}
    settle: 300ms
$1
CFG
	chgrp dropsync "$cfg"
}

# A clean start on a reused root: no package, spool or state left over
# (the journal checks read this boot only).
dpkg --purge dropsync >/dev/null 2>&1
rm -rf /var/spool/dropsync /var/lib/dropsync /home/alice
check "dpkg -i dropsync.deb" dpkg -i /root/dropsync.deb
systemd-run --unit=fake-sensenet /usr/bin/dropsync fake-server --api sensenet --listen 127.0.0.1:8765 >/dev/null 2>&1
wait_for 30 "dropsync fake-server answers" bash -c 'exec 3<>/dev/tcp/127.0.0.1/8765'
config ""
check "systemctl start dropsync (Type=notify: returns once READY)" systemctl start dropsync
check "dropsync is active" systemctl is-active dropsync
check "systemctl status shows dropsync's STATUS line" sh -c 'systemctl show -p StatusText dropsync | grep "watching 1 folder(s)"'
pid="$(systemctl show -p MainPID --value dropsync)"

echo "hello from the drop group" >/var/spool/dropsync/inbox/hello.txt
wait_for 60 "hello.txt is delivered to the fake server" sh -c 'journalctl -b -u dropsync -o cat | grep "msg=delivered" | grep -q "path=hello.txt"'

install -d -o dropsync -g dropsync-drop -m 2770 /var/spool/dropsync/inbox2
config "  - path: /var/spool/dropsync/inbox2
    target: docs
    destination: {path: /Root/Content/Documents}
    settle: 300ms"
check "systemctl reload dropsync" systemctl reload dropsync
wait_for 30 "the reload is logged with the added watch" sh -c 'journalctl -b -u dropsync -o cat | grep "configuration reloaded" | grep -q inbox2'
check "the reload kept the process (same MainPID)" test "$(systemctl show -p MainPID --value dropsync)" = "$pid"
echo "via the added watch" >/var/spool/dropsync/inbox2/second.txt
wait_for 60 "second.txt from the added watch is delivered" sh -c 'journalctl -b -u dropsync -o cat | grep "msg=delivered" | grep -q "path=second.txt"'

head -c 100000 /dev/zero >/var/spool/dropsync/inbox/too-big.bin
wait_for 60 "the injected error (a file over max_file_size) is logged" sh -c 'journalctl -b -u dropsync -o cat | grep -q "upload failed permanently"'

echo "this: [is not yaml" >"$cfg"
check "systemctl reload with a broken configuration" systemctl reload dropsync
wait_for 30 "the broken configuration is refused" sh -c 'journalctl -b -u dropsync -o cat | grep -q "reload refused"'
check "dropsync still runs the old configuration" systemctl is-active dropsync
check "still the same process" test "$(systemctl show -p MainPID --value dropsync)" = "$pid"

check "systemctl stop dropsync" systemctl stop dropsync
check "the stop's start is logged" sh -c 'journalctl -b -u dropsync -o cat | grep -q "stopping: no new uploads start"'
check "journalctl -b -u dropsync -p err shows the injected error" sh -c 'journalctl -b -u dropsync -p err --no-pager -o cat | grep "upload failed permanently"'
check "journalctl -p err does not show info lines" sh -c '! journalctl -b -u dropsync -p err --no-pager -o cat | grep -q "msg=delivered"'
check "no journal line carries dropsync's own timestamp" sh -c '! journal | grep -q "time="'
check "the service stopped cleanly" sh -c 'systemctl show -p Result --value dropsync | grep -qx success'

# The sandbox: a watch under /home is hidden by ProtectHome=yes. validate
# (outside the sandbox) predicts it from the unit; the start fails and says
# which setting and which drop-in.
mkdir -p /home/alice/drop
config "  - path: /home/alice/drop
    target: docs
    destination: {path: /Root/Content/Documents}"
check "validate names ProtectHome for a watch under /home" sh -c '! out="$(dropsync validate -c /etc/dropsync/config.yaml 2>&1)"; echo "$out"; echo "$out" | grep -q "ProtectHome=yes" && echo "$out" | grep -q "systemctl edit dropsync"'
check "systemctl start fails for a watch the sandbox hides" sh -c '! systemctl start dropsync'
check "the failed start names ProtectHome and the drop-in" sh -c 'journalctl -b -u dropsync -o cat | grep "ProtectHome=yes hides /home" | grep -q "ProtectHome=no and ReadWritePaths=/home/alice/drop"'
systemctl stop dropsync >/dev/null 2>&1
systemctl reset-failed dropsync >/dev/null 2>&1
{
	echo "--- journalctl -b -u dropsync"
	journal -o short-precise | tail -40
	if command -v systemd-analyze >/dev/null; then
		echo "--- systemd-analyze security dropsync"
		systemd-analyze security --no-pager dropsync 2>&1 | tail -1
	fi
} >>"$result.log" 2>&1
echo "END" >>"$result"
systemctl poweroff --no-block
INNER
chmod 0755 "$rootfs/usr/local/sbin/dropsync-systemd-test"
cat >"$rootfs/etc/systemd/system/dropsync-systemd-test.service" <<'UNIT'
[Unit]
Description=dropsync real-systemd test
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/dropsync-systemd-test
StandardOutput=journal+console
UNIT
mkdir -p "$rootfs/etc/systemd/system/multi-user.target.wants"
ln -sf ../dropsync-systemd-test.service "$rootfs/etc/systemd/system/multi-user.target.wants/dropsync-systemd-test.service"
rm -f "$rootfs/var/tmp/dropsync-systemd-test.result" "$rootfs/var/tmp/dropsync-systemd-test.result.log"

# --- boot -------------------------------------------------------------------
step "boot systemd in systemd-nspawn"
set +e
timeout "${BOOT_TIMEOUT:-600}" systemd-nspawn --quiet --register=no --keep-unit -D "$rootfs" \
	--machine=dropsynctest --private-network --boot >"$work/console.log" 2>&1 </dev/null
rc=$?
set -e
step "container stopped (exit $rc)"
result="$rootfs/var/tmp/dropsync-systemd-test.result"
if [ ! -s "$result" ]; then
	tail -30 "$work/console.log"
	echo "FAIL: the container did not run the test (systemd-nspawn exit $rc; console: $work/console.log)"
	exit 1
fi
cat "$result"
[ -s "$result.log" ] && cat "$result.log"
if grep -q '^FAIL' "$result" || ! grep -qx END "$result"; then
	echo "FAIL: systemd-test ($(($(date +%s) - t0))s)"
	exit 1
fi
echo "PASS: systemd-test: all checks passed ($(($(date +%s) - t0))s)"
