"""The device time a run will take, before it runs: iterations (the PanDA protocol's count,
harness.train.loop.TrainSettings) x devices x seconds per iteration from the recipe's cost table
(`cost.models`, recipes/base.yaml), in GPU-hours for entries measured on GPUs and CPU-hours for the
CPU (mini) models. An entry measured at another number of images per device is scaled linearly.
The training-set size is `data.n`, else the synthetic pool, else the full split's size from
`cost.train_images` (one in `data.every_k` of it for `every_kth` subsets), so a plan is priced
before the data is on disk."""

from __future__ import annotations

import math
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from harness.config.recipe_schema import CostConfig, ModelCost
from harness.config.run_spec import RunSpec
from harness.errors import ConfigError

UNITS = {"gpu": "GPU-hours", "cpu": "CPU-hours"}


@dataclass(frozen=True)
class Estimate:
    hours: float
    unit: str  # GPU-hours | CPU-hours
    iterations: int

    def describe(self) -> str:
        return f"{self.hours:.3g} {self.unit.replace('-hours', '-h')}"


def cost_table(cfg: DictConfig) -> CostConfig:
    """A loaded recipe's cost table, every entry checked (ConfigError naming the key)."""
    try:
        table = OmegaConf.to_object(cfg.cost)
    except Exception as exc:  # OmegaConf's type errors
        raise ConfigError(f"recipe {cfg.name}: cost: {str(exc).splitlines()[0]}") from None
    table.check()
    return table


def cost_entry(table: CostConfig, model: str, dataset: str) -> ModelCost | None:
    return table.models.get(f"{model}@{dataset}") or table.models.get(model)


def train_images(spec: RunSpec, table: CostConfig) -> int | None:
    """Original training images of the run (None when neither the recipe nor the table says)."""
    data = spec.settings.data
    if data.n is not None:
        return data.n
    if data.dataset == "synth":
        pool = data.synth.count
    elif data.dataset in table.train_images:
        pool = table.train_images[data.dataset]
    else:
        return None
    return math.ceil(pool / data.every_k) if data.subset == "every_kth" else pool


def estimate(spec: RunSpec, table: CostConfig, world_size: int) -> Estimate | None:
    """The run's device time on `world_size` devices; None without a cost entry or a size."""
    from harness.train.loop import TrainSettings  # torch: only once a plan is priced

    entry = cost_entry(table, spec.model, spec.dataset)
    n = train_images(spec, table)
    if entry is None or n is None:
        return None
    settings = TrainSettings.from_config(spec.settings)
    iterations = settings.iterations(n * (1 + spec.variant.copies), world_size)
    seconds = entry.seconds_per_iter * settings.ims_per_gpu / entry.ims_per_gpu
    return Estimate(iterations * world_size * seconds / 3600, UNITS[entry.device], iterations)
