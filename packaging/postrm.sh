#!/bin/sh
# auperf postrm: after an upgrade the new binary repairs what a killed run
# of the old one left; on removal prerm has done it. systemd forgets the
# unit either way. Logs in /var/log/auperf stay (they are the user's data).
set -e
if [ -x /usr/bin/auperf ]; then
	/usr/bin/auperf cleanup || true
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
