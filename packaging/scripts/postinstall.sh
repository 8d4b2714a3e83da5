#!/bin/sh
# logship postinstall: a system user, its state directory, systemd told.
set -e
if ! getent group logship >/dev/null 2>&1; then
    groupadd --system logship
fi
if ! getent passwd logship >/dev/null 2>&1; then
    useradd --system --gid logship --home-dir /var/lib/logship --no-create-home \
        --shell /usr/sbin/nologin --comment "logship log shipper" logship
fi
chown logship:logship /var/lib/logship
chmod 0750 /var/lib/logship
chgrp logship /etc/logship/agent.yml
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    # An upgrade restarts a running agent; a first install leaves starting
    # it to the operator, once /etc/logship/agent.yml names the brokers.
    if systemctl is-active --quiet logship; then
        systemctl try-restart logship || true
    else
        echo "logship installed: edit /etc/logship/agent.yml, then: systemctl enable --now logship"
    fi
fi
exit 0
