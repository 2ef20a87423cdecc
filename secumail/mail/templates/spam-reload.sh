# features.spam_filter: Redis (Bayes), Rspamd (Postfix's milter on port 25), global sieve rules.
install -d -o redis -g redis -m 0750 /run/redis /var/lib/redis
id -nG _rspamd | grep -qw redis || usermod -a -G redis _rspamd
touch /var/log/redis.log /var/log/rspamd.log
chown redis /var/log/redis.log
chown _rspamd /var/log/rspamd.log
put "$GEN/redis/redis.conf" /etc/redis/secumail.conf 0644
if ! running /run/redis/redis.pid; then
    launch runuser -u redis -- redis-server /etc/redis/secumail.conf
else  # the memory cap follows protection.bayes_memory without a restart
    runuser -u redis -- redis-cli -s /run/redis/redis.sock config set maxmemory "{{bayes_memory}}mb" >/dev/null
fi
# Rspamd reads local.d/ and override.d/ of this generation only (no file left from an older one).
for d in local.d override.d; do
    rm -rf "/etc/rspamd/$d.secumail-new"
    cp -r "$GEN/rspamd/$d" "/etc/rspamd/$d.secumail-new"
    rm -rf "/etc/rspamd/$d"
    mv "/etc/rspamd/$d.secumail-new" "/etc/rspamd/$d"
done
install -d -o _rspamd -g _rspamd -m 0750 /run/rspamd
install -d -o _rspamd -g vmail -m 0750 /run/rspamd-learn  # the controller socket: Rspamd and vmail only
install -d -o _rspamd -g _rspamd -m 0750 /var/lib/rspamd
install -d -o _rspamd -g postfix -m 0750 /var/spool/postfix/rspamd
# Global sieve scripts and the learning helpers (compiled here: Dovecot cannot write below /etc).
install -d -m 0755 /etc/dovecot/sieve /etc/dovecot/sieve/bin
for f in spam-to-junk learn-spam learn-ham; do
    put "$GEN/dovecot/sieve/$f.sieve" "/etc/dovecot/sieve/$f.sieve" 0644
    # -c: the file just put there; without it sievec asks a running Dovecot, which still has the
    # config of before (no IMAPSieve plugins when the filter was just turned on)
    sievec -c /etc/dovecot/dovecot.conf "/etc/dovecot/sieve/$f.sieve"
done
put "$GEN/dovecot/sieve/bin/rspamd-learn" /etc/dovecot/sieve/bin/rspamd-learn 0755
if running /run/rspamd/rspamd.pid; then
    kill -HUP "$(cat /run/rspamd/rspamd.pid)"
else
    launch rspamd -c /etc/rspamd/rspamd.conf -u _rspamd -g _rspamd
fi
