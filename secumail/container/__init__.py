"""LXC container layer: config rendering, lxc-* runtime, bridge, rootfs images.

    lxcconf.ContainerSpec / BindMount   plain data describing the container
    lxcconf.render(spec, cgroup_version=None) -> str    the LXC config file
    network.ensure_bridge(name, "10.231.0.1/24") / remove_bridge(name)
    runtime.Container(name, lxcpath): define(spec), start(), stop(), state(),
        exec(args, input=, env=, daemon=), write_file(), read_file(),
        cgroup_get(key), destroy()  (never deletes a rootfs outside its dir)
    provision.debian.build(dir, ...)    debootstrap + mail packages
    provision.tarball.export_image / import_image   (safe extraction)
    provision.alpine.build(dir, ...)    untested here (no internet)
    cache.debian_image(cache_dir, image_dir, ...)   build once, unpack many

Standard library only: this runs on OpenWrt.
"""
