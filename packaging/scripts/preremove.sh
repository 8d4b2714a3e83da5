#!/bin/sh
# logship preremove: stop the agent on removal, not on upgrade. The state
# directory (registry) is kept, so a reinstall resumes where it stopped.
set -e
case "$1" in
    remove|purge|0)
        if [ -d /run/systemd/system ]; then
            systemctl disable --now logship >/dev/null 2>&1 || true
        fi
        ;;
esac
exit 0
