# dns.mta_sts none: no web server, nothing listens on 443.
if running /run/lighttpd.pid; then kill "$(cat /run/lighttpd.pid)"; fi
