# features.dav: Radicale on port {{port}} (TLS), logins checked by Dovecot. Radicale has no reload:
# restarted when its config, plugin or certificate changed.
install -d -m 0755 {{etc}}
install -d -o radicale -g radicale -m 0700 {{run}}
# The collections outlive the image: another image may number the radicale user differently.
if [ "$(stat -c %U "$DATA/dav")" != radicale ]; then chown -R radicale:radicale "$DATA/dav"; fi
chmod 0700 "$DATA/dav"
if running {{pid}} && cmp -s "$GEN/dav/radicale.conf" {{etc}}/config \
        && cmp -s "$GEN/dav/secumail_dovecot_auth.py" {{etc}}/secumail_dovecot_auth.py \
        && cmp -s "$DATA/ssl/fullchain.pem" {{run}}/fullchain.pem && cmp -s "$DATA/ssl/privkey.pem" {{run}}/privkey.pem; then
    :
else
    stop_pid {{pid}}
    put "$GEN/dav/radicale.conf" {{etc}}/config 0644
    put "$GEN/dav/secumail_dovecot_auth.py" {{etc}}/secumail_dovecot_auth.py 0644
    # Radicale runs as radicale: its own copy of the certificate and key (root's alone in data_path/ssl).
    install -o radicale -g radicale -m 0644 "$DATA/ssl/fullchain.pem" {{run}}/fullchain.pem
    install -o radicale -g radicale -m 0600 "$DATA/ssl/privkey.pem" {{run}}/privkey.pem
    touch /var/log/radicale.log
    chown radicale /var/log/radicale.log
    rm -f {{pid}}
    launch start-stop-daemon --start --background --make-pidfile --pidfile {{pid}} --chuid radicale \
        --output /var/log/radicale.log --exec /usr/bin/env -- PYTHONPATH={{etc}} \
        /usr/bin/python3 -m radicale --config {{etc}}/config
fi
