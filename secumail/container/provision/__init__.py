"""Rootfs provisioners: debian (debootstrap), tarball (import/export), alpine (minirootfs)."""
