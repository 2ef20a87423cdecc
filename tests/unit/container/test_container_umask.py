"""What liblxc and the lxc-* tools start from secumaild (umask 077 under rpcd) runs with umask 022: the
mount targets it makes in the rootfs must be walkable by the container's services."""

from __future__ import annotations

import os

from secumail.container import lxc_binding
from secumail.container.lxc_commands import CONTAINER_UMASK
from secumail.system.proc import run


def test_a_command_run_with_the_container_umask_gets_it_under_umask_077():
    old = os.umask(0o077)
    try:
        assert run(["sh", "-c", "umask"], umask=CONTAINER_UMASK).stdout.strip() == "0022"
        assert run(["sh", "-c", "umask"]).stdout.strip() == "0077"  # without it, ours is inherited
    finally:
        os.umask(old)


def test_the_binding_forks_under_the_container_umask_and_restores_ours():
    old = os.umask(0o077)
    try:
        with lxc_binding._container_umask():
            assert os.umask(CONTAINER_UMASK) == 0o022
        assert os.umask(0o077) == 0o077
    finally:
        os.umask(old)
