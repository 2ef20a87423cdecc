# Light path (features.spam_filter 0): OpenDMARC, port 25's milter after OpenDKIM. It has no reload:
# restarted only when its config changed (a milter that is down lets mail through, milter_default_action).
install -d -o opendmarc -g opendmarc -m 0750 /run/opendmarc /var/spool/postfix/opendmarc
id -nG postfix | grep -qw opendmarc || usermod -a -G opendmarc postfix
install -d -m 0755 /etc/opendmarc
if running /run/opendmarc/opendmarc.pid && cmp -s "$GEN/opendmarc/opendmarc.conf" {{conf}} \
        && cmp -s "$GEN/opendmarc/ignore.hosts" {{ignore}}; then
    :
else
    if running /run/opendmarc/opendmarc.pid; then
        kill "$(cat /run/opendmarc/opendmarc.pid)"
        n=0
        while running /run/opendmarc/opendmarc.pid && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    fi
    put "$GEN/opendmarc/ignore.hosts" {{ignore}} 0644
    put "$GEN/opendmarc/opendmarc.conf" {{conf}} 0644
    rm -f /run/opendmarc/opendmarc.pid {{socket}}
    launch opendmarc -c {{conf}}
fi
