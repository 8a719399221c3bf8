"""The settings of batch work on Ray, as a frozen spec stored with every job that uses them.

A job spec that can run on Ray (`extension.specs.EmbedSpec`, `curation.relevance.specs.
FeatureSpec` and `ScoringSpec`) carries one `EngineSpec`: 'local' or 'ray', the cluster's
address and the `ActorPoolSpec` of its model actors. Nothing here imports Ray, so specs load
where Ray is not installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from contract.specs import JsonSpec, check_choice

ENGINES = ("local", "ray")
# '' starts a local instance; 'auto' joins the cluster this machine is a node of;
# 'host:port' (a head node's GCS port, 6379 by default) or 'ray://host:port' (Ray Client, 10001).
_ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9._\[\]:-]+:\d{1,5}$")


def check_engine_name(engine: str) -> str:
    """The name when it is one of `ENGINES`.

    Raises:
        ValueError: any other name (the message lists the valid ones).
    """
    return check_choice("engine", engine, ENGINES)


def check_ray_address(address: str) -> str:
    """The address when it has one of the forms Ray accepts ('', 'auto', 'host:port',
    'ray://host:port').

    Raises:
        ValueError: any other text (the message shows the forms).
    """
    if address in ("", "auto") or _ADDRESS.match(address):
        return address
    raise ValueError(
        f"Ray address {address!r} is not '' (start a local instance), 'auto', 'HOST:PORT' "
        "(the head node's GCS port, e.g. 10.0.0.5:6379) or 'ray://HOST:PORT' (Ray Client)."
    )


@dataclass(frozen=True)
class ActorPoolSpec(JsonSpec):
    """The pool of model actors that Ray Data's `map_batches` runs a batch function in.

    Each actor loads the model once and then embeds batch after batch; a batch is one shard of
    the store (the job's `chunk_size` items).

    Attributes:
        actors: how many model actors run at once (map_batches' concurrency).
        cpus_per_actor: CPUs reserved per actor; also its torch threads and the threads that
            read and decode its inputs.
        gpus_per_actor: GPUs per actor; None = 1 when the cluster has GPUs and the job's
            device is not 'cpu', else 0 (CPU actors). A fraction shares a GPU between actors.
    """

    actors: int = 1
    cpus_per_actor: float = 1.0
    gpus_per_actor: float | None = None

    def __post_init__(self) -> None:
        if self.actors < 1:
            raise ValueError(f"actors must be >= 1, got {self.actors}")
        if self.cpus_per_actor <= 0:
            raise ValueError(f"cpus_per_actor must be > 0, got {self.cpus_per_actor}")
        if self.gpus_per_actor is not None and self.gpus_per_actor < 0:
            raise ValueError(f"gpus_per_actor must be >= 0 or None, got {self.gpus_per_actor}")


@dataclass(frozen=True)
class EngineSpec(JsonSpec):
    """Where a job's batch work runs.

    Attributes:
        name: 'local' (this process) or 'ray' (a pool of model actors, `scale`).
        address: '' starts a local Ray instance; 'auto', 'HOST:PORT' or 'ray://HOST:PORT'
            join a running cluster (`check_ray_address`). Used with 'ray' only.
        pool: how many model actors and the CPUs/GPUs of each (with 'ray' only).
    """

    name: str = "local"
    address: str = ""
    pool: ActorPoolSpec = field(default_factory=ActorPoolSpec)

    def __post_init__(self) -> None:
        check_engine_name(self.name)
        check_ray_address(self.address)

    @property
    def on_ray(self) -> bool:
        return self.name == "ray"


class RunsOnEngine:
    """Mixin of a spec with an `engine: EngineSpec` field: reads the flat fields that jobs
    stored before the engine was one nested spec (`engine` as a name, `ray_address`,
    `ray_pool`), so an old job still opens."""

    @classmethod
    def upgrade_fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        if not (isinstance(data.get("engine"), str) or {"ray_address", "ray_pool"} & set(data)):
            return data
        data = dict(data)
        engine = {"name": data.pop("engine", "local")}
        if "ray_address" in data:
            engine["address"] = data.pop("ray_address")
        if "ray_pool" in data:
            engine["pool"] = data.pop("ray_pool")
        return {**data, "engine": engine}
