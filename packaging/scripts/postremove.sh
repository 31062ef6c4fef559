#!/bin/sh
# dropsync postremove: .deb postrm ("$1" = remove | purge | upgrade | …) and
# .rpm %postun ("$1" = 0 on erase, 1 on upgrade).
#
# purge (deb only) deletes the queue database in /var/lib/dropsync and the
# spool folders if they are empty; files still waiting in the inbox are kept.
# The dropsync user and group are kept, as Debian policy recommends: files
# elsewhere may still belong to them, and a reinstall reuses them.
# Remove them by hand with: userdel dropsync
set -e

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi

if [ "$1" = purge ]; then
	rm -rf /var/lib/dropsync
	rmdir /var/spool/dropsync/inbox 2>/dev/null || true
	rmdir /var/spool/dropsync 2>/dev/null || true
	rmdir /etc/dropsync 2>/dev/null || true
	if [ -d /var/spool/dropsync ]; then
		echo "dropsync: kept /var/spool/dropsync: it still holds files" >&2
	fi
fi
exit 0
