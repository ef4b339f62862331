"""Devices and hosts: jax.distributed start-up, the 1-D mesh over every device of every host,
placing per-image pytrees on it, the shard_map wrapper, and merging per-process records.
"""

import json
import os

from absl import logging
import jax
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec
import numpy as np

MESH_AXIS = "images"


def initialize_distributed(coordinator_address=None, num_processes=None, process_id=None):
  """jax.distributed.initialize, called only when --multihost asks for it (a TPU pod slice
  detects every argument; elsewhere give all three). Must run before any other jax call."""
  jax.distributed.initialize(coordinator_address or None, num_processes, process_id)
  logging.info(
    "multi-host: process %d of %d, %d local / %d global devices",
    jax.process_index(),
    jax.process_count(),
    jax.local_device_count(),
    jax.device_count(),
  )


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh over every device of every host (or the given ones), axis 'images'."""
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (MESH_AXIS,))


def make_place(mesh: Mesh):
  """place(tree): every leaf (leading image axis) sharded over the mesh along that axis.

  Host data (identical on every process) becomes a global array; arrays that already span
  the mesh are resharded if needed.
  """
  sharding = NamedSharding(mesh, PartitionSpec(MESH_AXIS))

  def put(x):
    if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(sharding, x.ndim):
      return x
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return jax.device_put(x, sharding)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

  return lambda tree: jax.tree.map(put, tree)


class MeshDevices:
  """The image axis over a 1-D mesh (trainer.train's `devices`): place(tree) shards per-image
  pytrees, map(fn) runs a batched function as a shard_map, each device on its own images.

  shard_map, not jit's automatic partitioning: with jax 0.10.2 on CPU the SPMD partitioner
  returns wrong kernel gradients of a vmapped per-image conv on every shard but the first.
  """

  def __init__(self, mesh: Mesh):
    self.mesh = mesh
    self.place = make_place(mesh)

  def map(self, fn):
    spec = PartitionSpec(MESH_AXIS)
    return jax.shard_map(fn, mesh=self.mesh, in_specs=spec, out_specs=spec)


def padded_size(b: int, multiple: int) -> int:
  """The smallest multiple of `multiple` that is >= b."""
  return -(-b // multiple) * multiple


def is_lead() -> bool:
  """Whether this is process 0: it holds the workdir lock and writes the run's records."""
  return jax.process_index() == 0


def owner(index: int) -> int:
  """The process that writes the outputs of the job at position index."""
  return index % jax.process_count()


def gather_records(mine: list[dict], folder: str) -> list[dict]:
  """Every process's records (each written as folder/process_<i>.json, then read by all
  after a barrier); with one process, mine."""
  if jax.process_count() == 1:
    return mine
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, f"process_{jax.process_index()}.json"), "w") as f:
    json.dump(mine, f)
  multihost_utils.sync_global_devices("singan_jax.distributed: records written")
  merged = []
  for p in range(jax.process_count()):
    with open(os.path.join(folder, f"process_{p}.json"), encoding="utf-8") as f:
      merged += json.load(f)
  return merged
