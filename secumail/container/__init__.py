"""LXC container layer: config rendering, lxc-* runtime, bridge, rootfs images."""
