# dns.mta_sts none and dns.autoconfig off (or network_mode host): no web server, nothing listens on 443.
if running /run/lighttpd.pid; then kill "$(cat /run/lighttpd.pid)"; fi
