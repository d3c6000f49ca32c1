"""The typed schema of a recipe: one dataclass per section, holding every key of `recipes/base.yaml`
with its type, and `check()` methods for the allowed values and ranges.

Recipes are OmegaConf structured configs of these classes, so a wrong-typed value is an error at the
file or override that sets it (`data.n=abc`), and `check_recipe` refuses an unknown enumeration value
or an out-of-range number before a run folder exists.

Defaults have one home each: `recipes/base.yaml` holds the value of every field here (they are all
MISSING), except the `panda:` section, whose type and defaults are PanDA's own frozen parameters
(`harness.panda.config.PandaConfig`, paper Sec. 4.3), shared with `panbench panda`.

Sections per model family: a recipe FILE has every section (`RecipeFile`); each of its cells is
typed by its model's family, so a run's config holds only what applies to it: `SgdRecipe` (panoptic
models and the evaluators: `optim:`, SGD) or `GanRecipe` (synthesis models: `gan:`, and `eval:` with
the evaluators, `GanEvalConfig`). The SGD keys were once spelled under `train:`; `SGD_ALIASES` maps
those spellings (files, overrides, grid keys) onto `optim.*`.

Run identity: a run's id hashes its resolved config except the fields marked `reporting(...)`, which
change where or how a run is reported (W&B, the logging and checkpoint cadence, the cache folder, the
number of data workers, the intra-op threads), never its numbers. The `panda:` section is left out
too while the augmentation mode is off (no augmented image is drawn, so its parameters cannot change
the results), and `data.panda_mix` unless the mode is online (the only mode that reads it). The
hash is taken in the layout ids were first taken in (`result_config`), so no existing id changed. The
recipe name stays in: a run belongs to one recipe's tables."""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional

from omegaconf import MISSING

from harness.data.augment_mode import AugmentMode
from harness.data.synth import MIN_SIDE
from harness.errors import ConfigError
from harness.metrics.protocol import DEFAULT_PROTOCOL, PRESETS
from harness.panda.config import CANVAS_ONLY, PandaConfig

REPORTING = "reporting"  # field metadata: the key does not affect results (left out of the run id)
RULE = "rule"  # field metadata: (test, what the value must be), checked by check_fields
DATASETS = ("synth", "coco_panoptic", "cityscapes", "coco_stuff")
SUBSETS = ("random", "every_kth")
SCHEDULES = ("step", "poly")
WANDB_MODES = ("offline", "online", "disabled")
DEVICES = ("gpu", "cpu")  # what a cost-table entry was measured on
SPLIT_NAME = re.compile(r"[A-Za-z0-9][\w.-]*")


def checked(test: Callable[[Any], bool], rule: str, *, reports: bool = False) -> Any:
    """A field whose value must pass `test`; `rule` says what it must be (the error names the key
    from the schema, so no check spells a dotted key by hand). `reports`: a reporting field."""
    return field(default=MISSING, metadata={RULE: (test, rule), **({REPORTING: True} if reports else {})})


def reporting() -> Any:
    """A field that changes how a run is reported, never its results."""
    return field(default=MISSING, metadata={REPORTING: True})


def require(ok: bool, key: str, rule: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{key} must be {rule}, got {value!r}")


def check_fields(section: Any, prefix: str) -> None:
    """Every field rule of `section` (keys named `prefix` + field), then its cross-field `check()`."""
    for f in dataclasses.fields(section):
        if RULE in f.metadata:
            test, rule = f.metadata[RULE]
            value = getattr(section, f.name)
            require(test(value), prefix + f.name, rule, value)
    if hasattr(section, "check"):
        section.check()


def _at_least(low: float) -> Callable[[Any], bool]:
    return lambda v: v >= low


def _positive(v: float) -> bool:
    return v > 0


def _null_or(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or test(v)


def _fraction(v: float) -> bool:  # [0, 1)
    return 0 <= v < 1


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
    width: int = checked(_at_least(MIN_SIDE), f">= {MIN_SIDE} pixels")
    height: int = checked(_at_least(MIN_SIDE), f">= {MIN_SIDE} pixels")
    count: int = checked(_at_least(1), ">= 1")
    val_count: int = checked(_at_least(1), ">= 1")


@dataclass
class DataConfig:
    dataset: str = checked(lambda v: v in DATASETS, f"one of {', '.join(DATASETS)}")
    root: Optional[str] = MISSING
    val_root: Optional[str] = MISSING
    split: Optional[str] = checked(_null_or(SPLIT_NAME.fullmatch), "a split name such as train2017 (COCO's "
                                   "layout: annotations/panoptic_<split>.json) or null")  # COCO's layout read in place
    val_split: Optional[str] = checked(_null_or(SPLIT_NAME.fullmatch), "a split name such as train2017 (COCO's "
                                       "layout: annotations/panoptic_<split>.json) or null")
    n: Optional[int] = checked(_null_or(_at_least(1)), ">= 1 or null (all images)")
    subset: str = checked(lambda v: v in SUBSETS, f"one of {', '.join(SUBSETS)}")
    every_k: int = checked(_at_least(1), ">= 1")
    seed: int = checked(_at_least(0), ">= 0")
    panda: str = MISSING  # the augmentation schedule: `mode`
    panda_mix: float = checked(_fraction, "a probability in [0, 1)")  # online: P(a sample is replaced)
    augment: str = MISSING  # the method the schedule applies (harness/panda/door.py), `mode.method`
    augment_params: Dict[str, Any] = MISSING  # its parameters (open: checked by the door)
    synth: SynthConfig = field(default_factory=SynthConfig)
    cache: str = reporting()
    workers: int = checked(_at_least(0), ">= 0", reports=True)
    # FID / KID of the run's PanDA set against its real images (issue 25), kept with the set: it measures
    # the set, not the run, so result_config leaves it out of the run id
    realism: bool = checked(lambda v: isinstance(v, bool), "true or false")
    val_max: Optional[int] = checked(_null_or(_at_least(1)), ">= 1 or null (all images)")

    @functools.cached_property
    def mode(self) -> AugmentMode:
        """`data.panda` (with `panda_mix` when online) parsed once: harness/data/augment_mode.py."""
        return AugmentMode.parse(self.panda, mix=self.panda_mix, method=self.augment)

    def check(self) -> None:
        self.mode  # noqa: B018 - parsing is the check (ConfigError naming data.panda)
        if self.mode.enabled and self.augment != "panda":
            from harness.panda.augment import method_of

            method_of(self.augment, self.augment_params)  # a name or parameter that does not resolve: one line
        if self.dataset == "synth":
            check_fields(self.synth, "data.synth.")
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


@dataclass
class TrainConfig:
    """The training loop of every run: its length, batch, augmentation and cadence."""

    epochs: float = checked(_positive, "> 0")
    ims_per_gpu: int = checked(_at_least(1), ">= 1")
    hflip: float = checked(lambda v: 0 <= v <= 1, "a probability in [0, 1]")
    scale_jitter: List[float] = checked(lambda v: len(v) == 2 and 0 < v[0] <= v[1], "[low, high] with 0 < low <= high")
    amp: bool = MISSING
    max_iters: Optional[int] = checked(_null_or(_at_least(1)), ">= 1 or null")
    checkpoint_every: int = checked(_at_least(0), ">= 0 (0: only at the end)", reports=True)
    log_every: int = checked(_at_least(1), ">= 1", reports=True)
    threads: str = reporting()  # intra-op threads: auto | N (harness.threads; the environment wins)

    def check(self) -> None:
        from harness.threads import check_setting

        check_setting(self.threads)


@dataclass
class OptimConfig:
    """SGD runs' optimiser and lr schedule (harness/train/schedule.py): panoptic models, evaluators."""

    base_lr: float = checked(_positive, "> 0")
    base_batch: int = checked(_at_least(1), ">= 1")
    momentum: float = checked(_fraction, "in [0, 1)")
    nesterov: bool = MISSING
    weight_decay: float = checked(_at_least(0), ">= 0")
    schedule: str = checked(lambda v: v in SCHEDULES, f"one of {', '.join(SCHEDULES)}")
    steps: List[float] = checked(lambda v: all(0 < s <= 1 for s in v) and list(v) == sorted(v),
                                 "increasing fractions of the run in (0, 1]")
    gamma: float = checked(_positive, "> 0")
    power: float = checked(_positive, "> 0")
    warmup: float = checked(_fraction, "a fraction of the run in [0, 1)")
    warmup_factor: float = checked(lambda v: 0 < v <= 1, "in (0, 1]")
    grad_clip: Optional[float] = checked(_null_or(_positive), "> 0 or null")


@dataclass
class GanConfig:
    """Synthesis runs' optimiser, schedule and preprocessing (harness/train/tasks/synthesis/task.py)."""

    lr_generator: float = checked(_positive, "> 0")
    lr_discriminator: float = checked(_positive, "> 0")
    beta1: float = checked(_fraction, "in [0, 1)")
    beta2: float = checked(_fraction, "in [0, 1)")
    # fraction of the run, at its end, over which both lrs fall linearly to 0
    decay: float = checked(lambda v: 0 <= v <= 1, "a fraction of the run in [0, 1] (0: constant lr)")
    # [H, W] resize before a random crop to the image size
    load_size: Optional[List[int]] = checked(_null_or(lambda v: len(v) == 2 and min(v) >= 1), "[height, width] or null")


@dataclass
class EvalConfig:
    every: int = checked(_at_least(0), ">= 0 (0: at the end only)")
    images_logged: int = checked(_at_least(0), ">= 0", reports=True)


def _evaluator(v: str | None) -> bool:
    return v is None or bool(v.strip())


@dataclass
class GanEvalConfig(EvalConfig):
    """A synthesis run's evaluation adds its evaluators: a run id, a recipe reference or a weights
    file each (harness/config/dependencies.py)."""

    segmenter: Optional[str] = checked(_evaluator, "a weights file, a run id or null")  # null: no mIoU / accuracy
    detector: Optional[str] = checked(_evaluator, "a weights file, a run id or null")  # null: no detAP
    # Inception weights file for FID / KID (null: harness/metrics/fid.py's search)
    fid_weights: Optional[str] = checked(_evaluator, "a weights file, a run id or null")
    # the evaluation protocol preset (harness/metrics/protocol.py); the default leaves run ids as they were
    protocol: str = checked(lambda v: v in PRESETS, f"one of {', '.join(sorted(PRESETS))}")


@dataclass
class WandbConfig:
    mode: str = checked(lambda v: v in WANDB_MODES, f"one of {', '.join(WANDB_MODES)}")
    project: str = checked(bool, "a project name")
    entity: Optional[str] = MISSING
    init_timeout: float = checked(_positive, "> 0 seconds")
    group: Optional[str] = MISSING  # null: the recipe (`panbench search` sets its study's name)


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
    # wall-clock limit of one job; a run that needs more is requeued and resumes
    time_min: int = checked(_at_least(1), ">= 1 minute")
    nodes: int = checked(_at_least(1), ">= 1")
    gpus_per_node: int = checked(_at_least(0), ">= 0")  # 0: a CPU job
    # DDP ranks per node (null: one per GPU, one without GPUs)
    tasks_per_node: Optional[int] = checked(_null_or(_at_least(1)), ">= 1 or null")
    cpus_per_task: int = checked(_at_least(1), ">= 1")
    mem_gb: Optional[float] = checked(_null_or(_positive), "> 0 or null")  # null: the partition's default
    array_parallelism: int = checked(_at_least(1), ">= 1")  # jobs of the array running at once
    max_requeues: int = checked(_at_least(0), ">= 0")  # timeouts before a job gives up (preemptions do not count)
    setup: List[str] = MISSING  # shell lines run before each job (e.g. `module load cuda`)

    @property
    def ranks_per_node(self) -> int:
        return self.tasks_per_node or max(1, self.gpus_per_node)


@dataclass
class ModelCost:
    """Seconds per training iteration on one device at `ims_per_gpu` images, and where the number
    comes from (a measured run, or a published training time)."""

    seconds_per_iter: float = checked(_positive, "> 0")
    ims_per_gpu: int = checked(_at_least(1), ">= 1")
    device: str = checked(lambda v: v in DEVICES, f"one of {', '.join(DEVICES)}")  # gpu | cpu
    source: str = MISSING


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
            check_fields(entry, f"cost.models.{key}.")


SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")
DIRECTIONS = ("maximize", "minimize")


@dataclass
class SearchParam:
    """One searched recipe key (harness/launch/search.py): a number in [low, high] (`log`: on a log
    scale; `step`: on a grid of that step; `int`: integers), or one of `choices`."""

    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    step: Optional[float] = None
    int: bool = False
    choices: Optional[List[Any]] = None

    def check(self, key: str) -> None:
        if self.choices is not None:
            require(len(self.choices) > 0 and self.low is None and self.high is None, key,
                    "a non-empty `choices` list without low/high", self.choices)
            return
        require(self.low is not None and self.high is not None and self.low < self.high, key,
                "a range with low < high (or `choices`)", (self.low, self.high))
        require(not self.log or self.low > 0, key, "a range with low > 0 on a log scale", self.low)
        require(self.step is None or (self.step > 0 and not self.log), key, "a step > 0, not on a log scale",
                self.step)


@dataclass
class SearchConfig:
    """The space and objective of `panbench search` (harness/launch/search.py). The objective is
    `metric` averaged over `seeds`; with `control`, its gain over the compute-matched plain control
    of the same cell (data.panda none at as many iterations). `direction` null: the metric's own
    (harness/metrics/vocabulary.py)."""

    params: Dict[str, SearchParam] = MISSING
    metric: str = MISSING
    direction: Optional[str] = checked(lambda v: v is None or v in DIRECTIONS,
                                       f"one of {', '.join(DIRECTIONS)} or null")
    control: bool = MISSING
    seeds: List[int] = MISSING
    trials: int = checked(_at_least(1), ">= 1")  # the budget (`--trials N` overrides it)
    sampler: str = checked(lambda v: v in SAMPLERS, f"one of {', '.join(SAMPLERS)}")
    pruner: str = checked(lambda v: v in PRUNERS, f"one of {', '.join(PRUNERS)}")

    def check(self) -> None:
        from harness.metrics.vocabulary import METRIC_KEYS

        require(self.metric in METRIC_KEYS, "search.metric", f"one of {', '.join(METRIC_KEYS)}", self.metric)
        require(len(self.seeds) > 0, "search.seeds", "a non-empty list", self.seeds)
        for key, param in self.params.items():
            param.check(f"search.params.{key}")


@dataclass
class RecipeConfig:
    """One resolved cell of a recipe: what `panbench train` runs (the sections every run has; its
    model family adds its own: SgdRecipe, GanRecipe)."""

    name: Optional[str] = MISSING  # defaults to the recipe's file name
    seed: int = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    panda: PandaConfig = field(default_factory=PandaConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig, metadata={REPORTING: True})
    launch: LaunchConfig = field(default_factory=LaunchConfig, metadata={REPORTING: True})


@dataclass
class SgdRecipe(RecipeConfig):
    """A run trained with SGD (harness/train/tasks/panoptic, tasks/evaluator)."""

    optim: OptimConfig = field(default_factory=OptimConfig)


@dataclass
class GanRecipe(RecipeConfig):
    """A GAN synthesis run (harness/train/tasks/synthesis)."""

    gan: GanConfig = field(default_factory=GanConfig)
    eval: GanEvalConfig = field(default_factory=GanEvalConfig)


@dataclass
class RecipeCell(RecipeConfig):
    """A cell before its model's family is known: every section (what a recipe file sets)."""

    optim: OptimConfig = field(default_factory=OptimConfig)
    gan: GanConfig = field(default_factory=GanConfig)
    eval: GanEvalConfig = field(default_factory=GanEvalConfig)


@dataclass
class RecipeFile(RecipeCell):
    """A recipe as written: its cells plus the `grid:` that declares them (harness.config.recipes)
    the cost table its sweeps are estimated with and the space of its searches; none belongs to a single run."""

    grid: Dict[str, Any] = field(default=MISSING, metadata={REPORTING: True})
    cost: CostConfig = field(default_factory=CostConfig, metadata={REPORTING: True})
    search: SearchConfig = field(default_factory=SearchConfig, metadata={REPORTING: True})


SGD_ALIASES = {f"train.{f.name}": f"optim.{f.name}" for f in dataclasses.fields(OptimConfig)}  # old spellings
# The SGD values every GAN run was hashed with while its config still carried them (recipes/base.yaml's):
# GAN run ids keep them so that no existing id changed (see result_config).
GAN_ID_SGD = {"base_lr": 0.02, "base_batch": 16, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0001,
              "schedule": "step", "steps": [0.75], "gamma": 0.1, "power": 0.9, "warmup": 0.03125,
              "warmup_factor": 0.3333333, "grad_clip": None}


def run_config_class(model_name: str) -> type[RecipeConfig]:
    """The typed config of a run of `model_name`: GanRecipe for synthesis models, else SgdRecipe
    (an unknown name too: ModelConfig.check names the known ones)."""
    from harness.models.registry import list_models, model_family

    synthesis = model_name in list_models() and model_family(model_name) == "synthesis"
    return GanRecipe if synthesis else SgdRecipe


def sweep_keys() -> list[str]:
    """The top-level keys of a recipe file that no single run has (`grid`, `cost`)."""
    run_fields = {f.name for f in dataclasses.fields(RecipeCell)}
    return [f.name for f in dataclasses.fields(RecipeFile) if f.name not in run_fields]


def check_recipe(recipe: RecipeConfig) -> None:
    """Every enumeration and range of `recipe`; a ConfigError names the key and the allowed values.
    PanDA's parameters are checked by PandaConfig itself when the section is built."""
    require(recipe.seed >= 0, "seed", ">= 0", recipe.seed)
    for f in dataclasses.fields(recipe):
        if f.name not in ("name", "seed", "panda"):
            check_fields(getattr(recipe, f.name), f.name + ".")


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


def reporting_keys(cls: type = RecipeCell) -> list[str]:
    """The dotted keys marked `reporting` (left out of the run id)."""
    return [key for key, f, _ in _walk(cls, stop=_is_reporting) if _is_reporting(f)]


def result_config(config: dict) -> dict:
    """The part of a resolved config (plain containers) that determines a run's results, in the
    layout run ids were first taken in: the SGD keys under `train:`, where a GAN run also had the
    root recipe's SGD values (GAN_ID_SGD)."""
    out = applicable_config(config)
    for dotted in reporting_keys():
        _drop(out, dotted.split("."))
    _drop(out, ["data", "realism"])  # a measure of the PanDA set (harness/metrics/realism.py)
    sgd = out.pop("optim") if "optim" in out else GAN_ID_SGD
    out["train"] = {**dict(out.get("train") or {}), **sgd}
    if (config.get("eval") or {}).get("protocol") == DEFAULT_PROTOCOL:  # as scored before the key existed
        _drop(out, ["eval", "protocol"])
    return out


def applicable_config(config: dict) -> dict:
    """A resolved config without the keys that do not apply to its run (its sections are already its
    family's): the `panda:` section unless PanDA is a step of the augmentation, `data.panda_mix` unless
    online, the augmentation door's keys while PanDA (or nothing) is the method."""
    out = {k: v for k, v in config.items()}
    data = config.get("data") or {}
    mode = AugmentMode.parse(data.get("panda"), method=data.get("augment") or "panda")
    if not mode.enabled or "panda" not in mode.steps:
        out.pop("panda", None)
    elif (out.get("panda") or {}).get("canvas", "noise") == "noise":  # the paper's canvas: ids as before it
        for name in CANVAS_ONLY:
            _drop(out, ["panda", name])
    if not mode.online:
        _drop(out, ["data", "panda_mix"])
    if not mode.enabled or mode.method == "panda":  # the door's keys: absent from every run id before it
        _drop(out, ["data", "augment"])
    if not mode.enabled or not data.get("augment_params"):
        _drop(out, ["data", "augment_params"])
    return out


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
