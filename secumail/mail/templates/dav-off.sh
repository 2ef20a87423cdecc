# features.dav is off: no Radicale, nothing on the DAV port.
if running {{pid}}; then kill "$(cat {{pid}})"; fi
