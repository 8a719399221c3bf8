"""Reaching Ray and sizing the actor pool, without starting Ray: a bad address is one clear
line (from the library and from `workbench image-sets embed`), a pool is sized against the
cluster's resources, and the engine settings are checked where the spec is made."""

from __future__ import annotations

import socket
import time

import pytest

from cli.main import main
from extension.specs import EmbedSpec
from scale.batch import compute_pool_resources
from scale.cluster import connect_ray
from scale.specs import ActorPoolSpec, EngineSpec

CPU_ONLY = {"CPU": 2.0, "memory": 1e9}
TWO_GPUS = {"CPU": 16.0, "GPU": 2.0}


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_address_where_nothing_answers_is_one_line_and_fast():
    ray = pytest.importorskip("ray")
    address = f"127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    with pytest.raises(RuntimeError) as caught:
        with connect_ray(address):
            pass
    message = str(caught.value)
    assert message.startswith(f"could not connect to the Ray cluster at {address}: nothing answers")
    assert "\n" not in message and time.monotonic() - started < 10
    assert not ray.is_initialized()


def test_cli_bad_ray_address_is_one_line_exit_2(tmp_path, capsys):
    pytest.importorskip("ray")
    from tests.extension_helpers import write_images

    folder = write_images(tmp_path / "imgs", ["n01440764"], per_class=2)
    db = str(tmp_path / "wb.duckdb")
    assert main(["image-sets", "add", str(folder), "--db", db, "--name", "few", "--create"]) == 0
    capsys.readouterr()
    address = f"127.0.0.1:{_closed_port()}"
    args = ["image-sets", "embed", "few", "--db", db, "--cache-dir", str(tmp_path / "c")]
    args += ["--json", "--engine", "ray", "--ray-address", address]  # --json: no progress bar
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        f"workbench image-sets: error: could not connect to the Ray cluster at {address}"
    )
    assert "\n" not in err
    assert main(args[:-1] + ["not an address"]) == 2
    assert "is not '' (start a local instance), 'auto', 'HOST:PORT'" in capsys.readouterr().err


def test_pool_defaults_to_gpu_actors_when_the_cluster_has_gpus():
    assert compute_pool_resources(TWO_GPUS, ActorPoolSpec(actors=2), "auto") == ("cuda", 1.0)
    assert compute_pool_resources(TWO_GPUS, ActorPoolSpec(actors=2), "cpu") == ("cpu", 0.0)
    assert compute_pool_resources(CPU_ONLY, ActorPoolSpec(actors=2), "auto") == ("cpu", 0.0)
    half = ActorPoolSpec(actors=4, gpus_per_actor=0.5)
    assert compute_pool_resources(TWO_GPUS, half, "auto") == ("cuda", 0.5)


@pytest.mark.parametrize(
    ("cluster", "pool", "device", "says"),
    [
        (CPU_ONLY, ActorPoolSpec(actors=3), "auto", "need 3 CPUs and 0 GPUs, but the Ray cluster"),
        (CPU_ONLY, ActorPoolSpec(cpus_per_actor=4), "auto", "need 4 CPUs"),
        (TWO_GPUS, ActorPoolSpec(actors=3), "auto", "need 3 CPUs and 3 GPUs"),
        (CPU_ONLY, ActorPoolSpec(), "cuda", "device 'cuda' was asked for"),
        (TWO_GPUS, ActorPoolSpec(gpus_per_actor=1), "cpu", "contradicts"),
    ],
)
def test_a_pool_the_cluster_cannot_hold_is_refused(cluster, pool, device, says):
    with pytest.raises(ValueError, match=says):
        compute_pool_resources(cluster, pool, device)


def test_engine_settings_are_checked_in_the_spec():
    with pytest.raises(ValueError, match="engine must be one of"):
        EmbedSpec(1, engine=EngineSpec("spark"))
    with pytest.raises(ValueError, match="actors must be >= 1"):
        ActorPoolSpec(actors=0)
    for address in ("", "auto", "10.0.0.5:6379", "ray://head.example.org:10001", "[::1]:6379"):
        assert EmbedSpec(1, engine=EngineSpec("ray", address)).engine.address == address
