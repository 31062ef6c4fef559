#!/bin/sh
# dropsync postinstall, shared by the .deb (postinst: "$1" = configure) and
# the .rpm (%post: "$1" = 1 on install, 2 on upgrade). Idempotent, and safe
# where systemd is not running (containers, CI, chroots).
set -e

case "$1" in
	configure | 1 | 2) ;;
	*) exit 0 ;; # deb abort-upgrade, abort-remove, …
esac

USER=dropsync
GROUP=dropsync
DROP_GROUP=dropsync-drop # people and programs that may drop files into $SPOOL/inbox
STATE=/var/lib/dropsync
SPOOL=/var/spool/dropsync
CONFIG=/etc/dropsync/config.yaml

nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/sbin/nologin
[ -x "$nologin" ] || nologin=/bin/false

if ! getent group "$GROUP" >/dev/null 2>&1; then
	if command -v groupadd >/dev/null 2>&1; then
		groupadd --system "$GROUP"
	elif command -v addgroup >/dev/null 2>&1; then
		addgroup --system "$GROUP" >/dev/null
	else
		echo "dropsync: neither groupadd nor addgroup found; create the system group $GROUP yourself" >&2
		exit 1
	fi
fi
if ! getent passwd "$USER" >/dev/null 2>&1; then
	if command -v useradd >/dev/null 2>&1; then
		useradd --system --gid "$GROUP" --home-dir "$STATE" --no-create-home \
			--shell "$nologin" --comment "dropsync daemon" "$USER"
	elif command -v adduser >/dev/null 2>&1; then
		adduser --system --ingroup "$GROUP" --home "$STATE" --no-create-home \
			--shell "$nologin" --gecos "dropsync daemon" "$USER" >/dev/null
	else
		echo "dropsync: neither useradd nor adduser found; create the system user $USER yourself" >&2
		exit 1
	fi
fi

if ! getent group "$DROP_GROUP" >/dev/null 2>&1; then
	if command -v groupadd >/dev/null 2>&1; then
		groupadd --system "$DROP_GROUP"
	else
		addgroup --system "$DROP_GROUP" >/dev/null
	fi
fi
# The service user reads and moves what the group drops.
if ! id -nG "$USER" | tr ' ' '\n' | grep -qx "$DROP_GROUP"; then
	if command -v usermod >/dev/null 2>&1; then
		usermod -a -G "$DROP_GROUP" "$USER"
	else
		adduser "$USER" "$DROP_GROUP" >/dev/null
	fi
fi

# state_dir (systemd's StateDirectory= would create it too, but validate
# and `dropsync status` run before the first start) and the example inbox:
# group-writable by dropsync-drop, setgid so dropped files take the group
# (droppers need a umask that keeps group read, e.g. 027, or chmod g+r).
install -d -o "$USER" -g "$GROUP" -m 0700 "$STATE"
install -d -o "$USER" -g "$DROP_GROUP" -m 2750 "$SPOOL"
install -d -o "$USER" -g "$DROP_GROUP" -m 2770 "$SPOOL/inbox"

# The packaged config arrives root:root 0640 (it holds credentials): give
# it to group dropsync so the service can read it. A file already given to
# another group is left alone.
if [ -f "$CONFIG" ] && [ "$(stat -c %G "$CONFIG")" = root ]; then
	chgrp "$GROUP" "$CONFIG"
fi

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	case "$1" in
		configure)
			# deb upgrade ($2 = the old version): restart if it was running.
			[ -n "$2" ] && systemctl try-restart dropsync.service >/dev/null 2>&1 || true
			;;
		2) systemctl try-restart dropsync.service >/dev/null 2>&1 || true ;;
	esac
fi

if [ "$1" = 1 ] || { [ "$1" = configure ] && [ -z "$2" ]; }; then
	cat <<MSG
dropsync is installed but not started. Next:
  1. edit $CONFIG (the example talks to \`dropsync fake-server\` on 127.0.0.1)
  2. dropsync validate -c $CONFIG
  3. watched folders outside $SPOOL: add them to ReadWritePaths (systemctl edit dropsync)
  4. systemctl enable --now dropsync; journalctl -u dropsync -f
MSG
fi
exit 0
