#!/bin/sh
# auperf postinst: make systemd see the unit; never start the service (the
# administrator reviews /etc/auperf/auperf.yaml, then
# `systemctl enable --now auperf`).
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
