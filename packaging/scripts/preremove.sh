#!/bin/sh
# dropsync preremove: .deb prerm ("$1" = remove | upgrade | …) and .rpm
# %preun ("$1" = 0 on erase, 1 on upgrade). On removal, stop and disable
# the service; an upgrade leaves it running (postinstall restarts it).
set -e

case "$1" in
	remove | 0) ;;
	*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl stop dropsync.service >/dev/null 2>&1 || true
fi
if command -v systemctl >/dev/null 2>&1; then
	# Works offline too (it only removes the enablement symlinks).
	systemctl --no-reload disable dropsync.service >/dev/null 2>&1 || true
fi
exit 0
