#!/bin/sh
# auperf prerm: stop the service (its stop restores the audit state and
# unmounts what it mounted) and repair what a killed run left, while the
# binary is still installed.
set -e
if [ -d /run/systemd/system ]; then
	systemctl stop auperf.service >/dev/null 2>&1 || true
fi
if [ -x /usr/bin/auperf ]; then
	/usr/bin/auperf cleanup || true
fi
exit 0
