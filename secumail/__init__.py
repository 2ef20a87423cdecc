"""secumail: a small mail server appliance for OpenWrt routers."""

__version__ = "0.1.0"
