"""The typed schema of a recipe: one dataclass per section, holding every key of `recipes/base.yaml`
with its type, and `check()` methods for the allowed values and ranges.

Recipes are OmegaConf structured configs of these classes, so a wrong-typed value is an error at the
file or override that sets it (`data.n=abc`), and `check_recipe` refuses an unknown enumeration value
or an out-of-range number before a run folder exists.

Defaults have one home each: `recipes/base.yaml` holds the value of every field here (they are all
MISSING), except the `panda:` section, whose type and defaults are PanDA's own frozen parameters
(`harness.panda.config.PandaConfig`, paper Sec. 4.3), shared with `panbench panda`.

Run identity: a run's id hashes its resolved config except the fields marked `reporting(...)`, which
change where or how a run is reported (W&B, the logging and checkpoint cadence, the cache folder, the
number of data workers, the intra-op threads), never its numbers. The `panda:` section is left out
too while `data.panda: none` (no PanDA set is generated, so its parameters cannot change the
results), `data.panda_mix` unless `data.panda: online` (the only mode that reads it), and the GAN
keys (`gan:`, `eval.segmenter / detector / fid_weights`) when the model is not a synthesis model
(they neither train nor score it). The recipe name stays in: a run belongs to one recipe's tables."""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional

from omegaconf import MISSING

from harness.errors import ConfigError
from harness.panda.config import PandaConfig

REPORTING = "reporting"  # field metadata: the key does not affect results (left out of the run id)
DATASETS = ("synth", "coco_panoptic", "cityscapes", "coco_stuff")
SUBSETS = ("random", "every_kth")
SCHEDULES = ("step", "poly")
WANDB_MODES = ("offline", "online", "disabled")
SYNTHESIS_ONLY = ("gan", "eval.segmenter", "eval.detector", "eval.fid_weights")  # keys of GAN runs only
DEVICES = ("gpu", "cpu")  # what a cost-table entry was measured on
PANDA_COPIES = re.compile(r"^(none|online|[1-9][0-9]*x)$")  # none, online, or Kx: K PanDA images per original


def reporting() -> Any:
    """A field that changes how a run is reported, never its results."""
    return field(default=MISSING, metadata={REPORTING: True})


def require(ok: bool, key: str, rule: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{key} must be {rule}, got {value!r}")


@dataclass
class ModelConfig:
    name: str = MISSING  # harness.models.registry.list_models()
    options: Dict[str, Any] = MISSING  # constructor arguments (open: checked by the registry)

    def check(self) -> None:
        from harness.models.registry import list_models, model_arguments

        require(self.name in list_models(), "model.name", f"one of {', '.join(list_models())}", self.name)
        try:
            model_arguments(self.name, **self.options)
        except ConfigError as exc:
            raise ConfigError(f"model.options: {exc}") from None


@dataclass
class SynthConfig:
    width: int = MISSING
    height: int = MISSING
    count: int = MISSING
    val_count: int = MISSING

    def check(self) -> None:
        from harness.data.synth import MIN_SIDE

        for key in ("width", "height"):
            require(getattr(self, key) >= MIN_SIDE, f"data.synth.{key}", f">= {MIN_SIDE} pixels", getattr(self, key))
        for key in ("count", "val_count"):
            require(getattr(self, key) >= 1, f"data.synth.{key}", ">= 1", getattr(self, key))


@dataclass
class DataConfig:
    dataset: str = MISSING
    root: Optional[str] = MISSING
    val_root: Optional[str] = MISSING
    split: Optional[str] = MISSING  # COCO's official layout read in place: root/annotations/panoptic_<split>.json
    val_split: Optional[str] = MISSING
    n: Optional[int] = MISSING
    subset: str = MISSING
    every_k: int = MISSING
    seed: int = MISSING
    panda: str = MISSING
    panda_mix: float = MISSING  # online PanDA: probability that a sample is replaced by its PanDA version
    synth: SynthConfig = field(default_factory=SynthConfig)
    cache: str = reporting()
    workers: int = reporting()
    val_max: Optional[int] = MISSING

    @property
    def copies(self) -> int:
        """PanDA images per original image written to disk (0 without PanDA and with online PanDA)."""
        return 0 if self.panda in ("none", "online") else int(self.panda[:-1])

    @property
    def online(self) -> bool:
        """PanDA drawn in the data loader (harness/panda/online.py) instead of a generated set."""
        return self.panda == "online"

    def check(self) -> None:
        require(self.dataset in DATASETS, "data.dataset", f"one of {', '.join(DATASETS)}", self.dataset)
        require(self.subset in SUBSETS, "data.subset", f"one of {', '.join(SUBSETS)}", self.subset)
        require(bool(PANDA_COPIES.match(self.panda)), "data.panda",
                "none or Kx for an integer K >= 1 (1x, 2x, ...), or online", self.panda)
        require(0 <= self.panda_mix < 1, "data.panda_mix", "a probability in [0, 1)", self.panda_mix)
        require(self.n is None or self.n >= 1, "data.n", ">= 1 or null (all images)", self.n)
        require(self.every_k >= 1, "data.every_k", ">= 1", self.every_k)
        require(self.seed >= 0, "data.seed", ">= 0", self.seed)
        require(self.workers >= 0, "data.workers", ">= 0", self.workers)
        require(self.val_max is None or self.val_max >= 1, "data.val_max", ">= 1 or null (all images)", self.val_max)
        if self.dataset == "synth":
            self.synth.check()
            pool = self.synth.count if self.subset == "random" else len(range(0, self.synth.count, self.every_k))
            if self.n is not None and self.n > pool:
                raise ConfigError(f"data.n={self.n} is larger than the training pool: {pool} synthetic images "
                                  f"(data.synth.count={self.synth.count}, data.subset={self.subset})")
        else:
            for key in ("root", "val_root"):
                require(bool(getattr(self, key)), f"data.{key}", f"a COCO-panoptic folder for data.dataset="
                        f"{self.dataset} (e.g. from `panbench data cityscapes`)", getattr(self, key))
        for key in ("split", "val_split"):
            value = getattr(self, key)
            require(value is None or self.dataset != "synth", f"data.{key}", "null for data.dataset=synth", value)
            require(value is None or bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*", value)), f"data.{key}",
                    "a split name such as train2017 (COCO's layout: annotations/panoptic_<split>.json) or null", value)


@dataclass
class TrainConfig:
    epochs: float = MISSING
    ims_per_gpu: int = MISSING
    base_lr: float = MISSING
    base_batch: int = MISSING
    momentum: float = MISSING
    nesterov: bool = MISSING
    weight_decay: float = MISSING
    schedule: str = MISSING
    steps: List[float] = MISSING
    gamma: float = MISSING
    power: float = MISSING
    warmup: float = MISSING
    warmup_factor: float = MISSING
    hflip: float = MISSING
    scale_jitter: List[float] = MISSING
    amp: bool = MISSING
    grad_clip: Optional[float] = MISSING
    max_iters: Optional[int] = MISSING
    checkpoint_every: int = reporting()
    log_every: int = reporting()
    threads: str = reporting()  # intra-op threads: auto | N (harness.threads; the environment wins)

    def check(self) -> None:
        require(self.epochs > 0, "train.epochs", "> 0", self.epochs)
        for key in ("ims_per_gpu", "base_batch", "log_every"):
            require(getattr(self, key) >= 1, f"train.{key}", ">= 1", getattr(self, key))
        require(self.base_lr > 0, "train.base_lr", "> 0", self.base_lr)
        require(0 <= self.momentum < 1, "train.momentum", "in [0, 1)", self.momentum)
        require(self.weight_decay >= 0, "train.weight_decay", ">= 0", self.weight_decay)
        require(self.schedule in SCHEDULES, "train.schedule", f"one of {', '.join(SCHEDULES)}", self.schedule)
        steps = list(self.steps)
        require(all(0 < s <= 1 for s in steps) and steps == sorted(steps), "train.steps",
                "increasing fractions of the run in (0, 1]", steps)
        require(self.gamma > 0, "train.gamma", "> 0", self.gamma)
        require(self.power > 0, "train.power", "> 0", self.power)
        require(0 <= self.warmup < 1, "train.warmup", "a fraction of the run in [0, 1)", self.warmup)
        require(0 < self.warmup_factor <= 1, "train.warmup_factor", "in (0, 1]", self.warmup_factor)
        require(0 <= self.hflip <= 1, "train.hflip", "a probability in [0, 1]", self.hflip)
        jitter = list(self.scale_jitter)
        require(len(jitter) == 2 and 0 < jitter[0] <= jitter[1], "train.scale_jitter", "[low, high] with 0 < low <= high",
                jitter)
        require(self.grad_clip is None or self.grad_clip > 0, "train.grad_clip", "> 0 or null", self.grad_clip)
        require(self.max_iters is None or self.max_iters >= 1, "train.max_iters", ">= 1 or null", self.max_iters)
        require(self.checkpoint_every >= 0, "train.checkpoint_every", ">= 0 (0: only at the end)", self.checkpoint_every)
        from harness.threads import check_setting

        check_setting(self.threads)


@dataclass
class GanConfig:
    """Synthesis runs' optimiser, schedule and preprocessing (harness/train/tasks/synthesis/task.py)."""

    lr_generator: float = MISSING
    lr_discriminator: float = MISSING
    beta1: float = MISSING
    beta2: float = MISSING
    decay: float = MISSING  # fraction of the run, at its end, over which both lrs fall linearly to 0
    load_size: Optional[List[int]] = MISSING  # [H, W] resize before a random crop to the image size

    def check(self) -> None:
        for key in ("lr_generator", "lr_discriminator"):
            require(getattr(self, key) > 0, f"gan.{key}", "> 0", getattr(self, key))
        for key in ("beta1", "beta2"):
            require(0 <= getattr(self, key) < 1, f"gan.{key}", "in [0, 1)", getattr(self, key))
        require(0 <= self.decay <= 1, "gan.decay", "a fraction of the run in [0, 1] (0: constant lr)", self.decay)
        size = None if self.load_size is None else list(self.load_size)
        require(size is None or (len(size) == 2 and min(size) >= 1), "gan.load_size", "[height, width] or null",
                size)


@dataclass
class EvalConfig:
    every: int = MISSING
    images_logged: int = reporting()
    # synthesis runs' evaluators: a run id, a recipe reference or a weights file (harness/train/tasks/evaluator/runs.py)
    segmenter: Optional[str] = MISSING  # null: no mIoU / accuracy
    detector: Optional[str] = MISSING  # null: no detAP
    fid_weights: Optional[str] = MISSING  # Inception weights file for FID / KID (null: harness/metrics/fid.py's search)

    def check(self) -> None:
        require(self.every >= 0, "eval.every", ">= 0 (0: at the end only)", self.every)
        require(self.images_logged >= 0, "eval.images_logged", ">= 0", self.images_logged)
        for key in ("segmenter", "detector", "fid_weights"):
            value = getattr(self, key)
            require(value is None or bool(value.strip()), f"eval.{key}", "a weights file, a run id or null", value)


@dataclass
class WandbConfig:
    mode: str = MISSING
    project: str = MISSING
    entity: Optional[str] = MISSING
    init_timeout: float = MISSING

    def check(self) -> None:
        require(self.mode in WANDB_MODES, "wandb.mode", f"one of {', '.join(WANDB_MODES)}", self.mode)
        require(bool(self.project), "wandb.project", "a project name", self.project)
        require(self.init_timeout > 0, "wandb.init_timeout", "> 0 seconds", self.init_timeout)


@dataclass
class LaunchConfig:
    """Where a run executes (harness/launch): the SLURM job of `panbench sweep --executor slurm`
    (submitted through submitit), and the processes per run of `--executor torchrun`. One task per
    GPU (or `tasks_per_node` CPU ranks), each a DDP rank; `cpus_per_task` is also each rank's torch
    thread count."""

    partition: Optional[str] = MISSING
    account: Optional[str] = MISSING
    qos: Optional[str] = MISSING
    constraint: Optional[str] = MISSING
    time_min: int = MISSING  # wall-clock limit of one job; a run that needs more is requeued and resumes
    nodes: int = MISSING
    gpus_per_node: int = MISSING  # 0: a CPU job
    tasks_per_node: Optional[int] = MISSING  # DDP ranks per node (null: one per GPU, one without GPUs)
    cpus_per_task: int = MISSING
    mem_gb: Optional[float] = MISSING  # null: the partition's default
    array_parallelism: int = MISSING  # jobs of the array running at once
    max_requeues: int = MISSING  # timeouts before a job gives up (preemptions do not count)
    setup: List[str] = MISSING  # shell lines run before each job (e.g. `module load cuda`)

    def check(self) -> None:
        require(self.time_min >= 1, "launch.time_min", ">= 1 minute", self.time_min)
        require(self.nodes >= 1, "launch.nodes", ">= 1", self.nodes)
        require(self.gpus_per_node >= 0, "launch.gpus_per_node", ">= 0", self.gpus_per_node)
        require(self.tasks_per_node is None or self.tasks_per_node >= 1, "launch.tasks_per_node", ">= 1 or null",
                self.tasks_per_node)
        require(self.cpus_per_task >= 1, "launch.cpus_per_task", ">= 1", self.cpus_per_task)
        require(self.mem_gb is None or self.mem_gb > 0, "launch.mem_gb", "> 0 or null", self.mem_gb)
        require(self.array_parallelism >= 1, "launch.array_parallelism", ">= 1", self.array_parallelism)
        require(self.max_requeues >= 0, "launch.max_requeues", ">= 0", self.max_requeues)

    @property
    def ranks_per_node(self) -> int:
        return self.tasks_per_node or max(1, self.gpus_per_node)


@dataclass
class ModelCost:
    """Seconds per training iteration on one device at `ims_per_gpu` images, and where the number
    comes from (a measured run, or a published training time)."""

    seconds_per_iter: float = MISSING
    ims_per_gpu: int = MISSING
    device: str = MISSING  # gpu | cpu
    source: str = MISSING

    def check(self, key: str) -> None:
        require(self.seconds_per_iter > 0, f"{key}.seconds_per_iter", "> 0", self.seconds_per_iter)
        require(self.ims_per_gpu >= 1, f"{key}.ims_per_gpu", ">= 1", self.ims_per_gpu)
        require(self.device in DEVICES, f"{key}.device", f"one of {', '.join(DEVICES)}", self.device)


@dataclass
class CostConfig:
    """The per-model cost table behind `panbench sweep --dry-run`'s GPU-hour estimate. `models` is
    keyed by model name, or `model@dataset` where the image size of a dataset changes the cost;
    `train_images` holds the size of each full training split, for estimates before the data is
    on disk."""

    models: Dict[str, ModelCost] = MISSING
    train_images: Dict[str, int] = MISSING

    def check(self) -> None:
        for key, entry in self.models.items():
            entry.check(f"cost.models.{key}")


@dataclass
class RecipeConfig:
    """One resolved cell of a recipe: what `panbench train` runs."""

    name: Optional[str] = MISSING  # defaults to the recipe's file name
    seed: int = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    panda: PandaConfig = field(default_factory=PandaConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    gan: GanConfig = field(default_factory=GanConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig, metadata={REPORTING: True})
    launch: LaunchConfig = field(default_factory=LaunchConfig, metadata={REPORTING: True})


@dataclass
class RecipeFile(RecipeConfig):
    """A recipe as written: its cells plus the `grid:` that declares them (harness.config.recipes)
    and the cost table its sweeps are estimated with; neither belongs to a single run."""

    grid: Dict[str, Any] = field(default=MISSING, metadata={REPORTING: True})
    cost: CostConfig = field(default_factory=CostConfig, metadata={REPORTING: True})


def sweep_keys() -> list[str]:
    """The top-level keys of a recipe file that no single run has (`grid`, `cost`)."""
    run_fields = {f.name for f in dataclasses.fields(RecipeConfig)}
    return [f.name for f in dataclasses.fields(RecipeFile) if f.name not in run_fields]


def check_recipe(recipe: RecipeConfig) -> None:
    """Every enumeration and range of `recipe`; a ConfigError names the key and the allowed values.
    PanDA's parameters are checked by PandaConfig itself when the section is built."""
    require(recipe.seed >= 0, "seed", ">= 0", recipe.seed)
    for section in (recipe.model, recipe.data, recipe.train, recipe.gan, recipe.eval, recipe.wandb, recipe.launch):
        section.check()


def _walk(cls: type, prefix: str = "", stop: Callable[[dataclasses.Field], bool] = lambda f: False
          ) -> Iterator[tuple[str, dataclasses.Field, Any]]:
    """Every field of the schema, depth first, as (dotted key, field, type); nothing below a field
    where `stop(field)` holds."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        dotted = prefix + f.name
        yield dotted, f, hints[f.name]
        if dataclasses.is_dataclass(hints[f.name]) and not stop(f):
            yield from _walk(hints[f.name], dotted + ".", stop)


def _is_reporting(f: dataclasses.Field) -> bool:
    return bool(f.metadata.get(REPORTING))


def schema_keys(cls: type = RecipeFile) -> list[str]:
    """Every dotted key of the schema, sections included."""
    return [key for key, _, _ in _walk(cls)]


def open_sections(cls: type = RecipeFile) -> list[str]:
    """The `Dict[str, Any]` fields, whose keys are free (`model.options`, `grid`)."""
    return [key for key, _, hint in _walk(cls) if typing.get_origin(hint) is dict]


def reporting_keys(cls: type = RecipeConfig) -> list[str]:
    """The dotted keys marked `reporting` (left out of the run id)."""
    return [key for key, f, _ in _walk(cls, stop=_is_reporting) if _is_reporting(f)]


def result_config(config: dict) -> dict:
    """The part of a resolved config (plain containers) that determines a run's results."""
    out = {k: v for k, v in config.items()}
    for dotted in reporting_keys():
        _drop(out, dotted.split("."))
    panda = (config.get("data") or {}).get("panda")
    if panda == "none":
        out.pop("panda", None)
    if not _is_synthesis(config):
        for dotted in SYNTHESIS_ONLY:
            _drop(out, dotted.split("."))
    if panda != "online":
        _drop(out, ["data", "panda_mix"])
    return out


def _is_synthesis(config: dict) -> bool:
    from harness.models.synthesis.entries import SYNTHESIS_MODELS

    return (config.get("model") or {}).get("name") in SYNTHESIS_MODELS


def _drop(node: dict, path: list[str]) -> None:
    """Remove `path` from a nested dict, copying the dicts on the way (the input stays whole)."""
    head, rest = path[0], path[1:]
    if head not in node:
        return
    if not rest:
        del node[head]
    elif isinstance(node[head], dict):
        node[head] = dict(node[head])
        _drop(node[head], rest)
