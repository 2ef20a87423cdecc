# features.virus_scan: clamd with the signatures of data_path/clamav (on /var/lib/clamav),
# clamav-milter (Postfix's first milter), freshclam (updates when the Internet answers).
install -d -o clamav -g clamav -m 0755 /run/clamav /var/log/clamav
install -d -o clamav -g clamav -m 0750 /var/spool/postfix/clamav
id -nG postfix | grep -qw clamav || usermod -a -G clamav postfix
# Seeded files were handed to the container's root by the agent: freshclam replaces them as clamav.
chown -R clamav:clamav /var/lib/clamav 2>/dev/null || true  # files of unmapped ids stay as they are
restart_clamd=no
restart_milter=no
cmp -s "$GEN/clamav/clamd.conf" /etc/clamav/clamd.conf || restart_clamd=yes
cmp -s "$GEN/clamav/clamav-milter.conf" /etc/clamav/clamav-milter.conf || restart_milter=yes
put "$GEN/clamav/clamd.conf" /etc/clamav/clamd.conf 0644
put "$GEN/clamav/clamav-milter.conf" /etc/clamav/clamav-milter.conf 0644
put "$GEN/clamav/freshclam.conf" /etc/clamav/freshclam.conf 0644
put "$GEN/clamav/secumail-clamav" /usr/local/sbin/secumail-clamav 0755
running /run/clamav/freshclam.pid || launch freshclam -d --config-file=/etc/clamav/freshclam.conf
if /usr/local/sbin/secumail-clamav signatures; then
    if [ "$restart_clamd" = yes ]; then stop_pid /run/clamav/clamd.pid; fi
    if ! running /run/clamav/clamd.pid; then
        launch clamd --config-file=/etc/clamav/clamd.conf  # returns once the signatures are loaded
    elif [ -n "$(find /var/lib/clamav -newer /run/clamav/clamd.pid -type f | head -n 1)" ]; then
        kill -USR2 "$(cat /run/clamav/clamd.pid)"  # signatures seeded since clamd started: reload them
    fi
    if [ "$restart_milter" = yes ]; then stop_pid /run/clamav/clamav-milter.pid; fi
    # clamav-milter as soon as clamd answers PING (its signatures loaded), polled every second.
    running /run/clamav/clamav-milter.pid || launch /usr/local/sbin/secumail-clamav milter
elif ! running /run/clamav/wait.pid; then
    # clamd does not start without signatures: wait for freshclam (or a seeded file), then run the
    # live reload again, which starts clamd and the milter. Mail meanwhile goes through unscanned.
    setsid /usr/local/sbin/secumail-clamav wait "$DATA" </dev/null >/dev/null 2>&1 &
fi
