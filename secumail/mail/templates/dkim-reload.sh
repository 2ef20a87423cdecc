put "$GEN/opendkim/opendkim.conf" /etc/opendkim.conf 0644
# OpenDKIM runs as opendkim and insists on private keys it owns: copy them out of data_path.
install -d -o opendkim -g opendkim -m 0750 /run/opendkim
install -d -o opendkim -g opendkim -m 0750 /var/spool/postfix/opendkim
id -nG postfix | grep -qw opendkim || usermod -a -G opendkim postfix
install -d -o opendkim -g opendkim -m 0700 /run/opendkim/keys
{{key_copies}}
if running /run/opendkim/opendkim.pid; then
    kill -USR1 "$(cat /run/opendkim/opendkim.pid)"
else
    # the spool outlives the image: a socket left by an image whose opendkim had another uid stops
    # OpenDKIM ("socket cleanup failed: Permission denied") and submission mail would go out unsigned
    rm -f /var/spool/postfix/opendkim/opendkim.sock
    launch opendkim -x /etc/opendkim.conf
fi
