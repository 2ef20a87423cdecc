# features.dav is off: no Radicale, nothing on the DAV port.
stop_pid {{pid}}
