"""Reach Ray: start a local instance, or join an existing cluster by address.

`connect_ray` is a context manager that leaves Ray as it found it: a connection it opened is
closed at the end (which also ends every actor and task of the job), one that was already
open (a test fixture, a notebook) is used and kept. Ray starts its own processes (a GCS, a
raylet, workers) as children of the thread that calls `ray.init`, and Linux ends them when
that thread ends, so the job that connects must be the one that runs the work: never connect
on a short-lived thread and reuse the connection elsewhere.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from scale.specs import check_ray_address

INSTALL_HINT = "pip install '.[scale]' (ray[data]==2.60.0)"
# Seconds to wait for a TCP answer from a cluster address before calling it unreachable.
CONNECT_TIMEOUT_S = 5.0
# Notices that say nothing about the job, kept off the terminal: a local instance uses token
# auth (good), Ray Data's own progress bars are off and its "execution finished" lines are not
# needed (the job reports its progress itself). Warnings of the executor still show.
_QUIET_LOGGERS = {
    "ray._private.authentication.authentication_token_setup": logging.ERROR,
    "ray.data._internal.progress": logging.ERROR,
    "ray.data._internal.execution.streaming_executor": logging.WARNING,
}


def ray_available() -> bool:
    """Whether Ray (with Ray Data) can be imported here, without importing it."""
    from importlib.util import find_spec

    return find_spec("ray") is not None and find_spec("ray.data") is not None


def import_ray():
    """The `ray` module with Ray Data loaded.

    Raises:
        RuntimeError: Ray is not installed (the message says how to install it).
    """
    # No usage reports: these machines reach the package registry and nothing else.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    for name, level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    # Ray Data copies its own context, touching its deprecated fields (nothing we set).
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray\.data\.context")
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(
            f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}"
        ) from exc
    return ray


@contextmanager
def connect_ray(
    address: str = "",
    *,
    num_cpus: int | None = None,
    object_store_memory: int | None = None,
) -> Iterator[object]:
    """Ray, connected for the duration of the block.

    Args:
        address: '' starts a local instance on this machine; 'auto', 'HOST:PORT' or
            'ray://HOST:PORT' join a running cluster (see `scale.specs.check_ray_address`).
        num_cpus, object_store_memory: sizes of a local instance (None: Ray's defaults, all
            CPUs and about 30 % of the memory); ignored when joining a cluster.

    Yields:
        The `ray` module.

    Raises:
        ValueError: a malformed address.
        RuntimeError: Ray is not installed, or the cluster cannot be reached (one line that
            names the address).
    """
    check_ray_address(address)
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address not in ("", "auto"):
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(
                num_cpus=num_cpus,
                object_store_memory=object_store_memory,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, ...
        ray.shutdown()
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise RuntimeError(f"could not connect to {where}: {_first_line(exc)}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail fast, with one line, when nothing answers at the address (Ray itself would retry
    for a minute or more)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise RuntimeError(
            f"could not connect to the Ray cluster at {address}: nothing answers there "
            f"({exc.strerror or exc}); start one with `ray start --head` or check the address"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
