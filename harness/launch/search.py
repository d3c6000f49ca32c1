"""`panbench search RECIPE`: Optuna over the recipe's `search:` space, every trial made of runs of the
run store (PanDA Sec. 4.3 grid-searched its parameters for PQ; Sec. 5 asks for it "in an automated way").

A trial is the recipe + the study's fixed overrides + the sampled parameters, once per seed of
`search.seeds`; each is a run whose id is the hash of its resolved config, so a configuration met again
(a repeated sample, a retried trial, another study) reuses its run instead of training it again. The
objective is `search.metric` averaged over the seeds; with `search.control`, its gain over the
compute-matched plain control of the same cell (`data.panda: none` at as many iterations: (K + 1) x the
epochs for PanDA Kx, epochs / (1 - mix) online; the same `train.max_iters` when that is set), one run
shared by every trial through its id.

Resumable and parallel: the study lives in an Optuna storage (default: an sqlite file under the runs
root), named after the recipe and its fixed overrides, loaded if it exists. Each process asks trials
until the study has `trials` finished ones (complete or pruned) and waits for the live trials of other
processes; a trial beyond that count (two processes asked at once) is failed as `surplus` before any
run starts. A process holds a lease on each of its trials (harness.tracking.run_lock, the runs' own
lock); a RUNNING trial whose lease is gone (its process was killed) is failed and its parameters are
enqueued again, so a killed search restarted with the same command ends with exactly N finished trials,
its interrupted run resumed, never one trained twice. A trial whose run fails is a FAIL trial; the
study goes on.

Pruning (`search.pruner`, Optuna's MedianPruner by default) reads the trial run's validation curve
(history.jsonl's `eval` records, `eval.every`) while it trains as a local process, and stops it
(SIGTERM: the run is `interrupted`, resumable) when the pruner says so; runs on torchrun or SLURM are
reported once finished (for the median of later trials), never stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from omegaconf import OmegaConf

from harness.config.recipe_schema import SearchConfig, SearchParam, check_fields, reporting_keys
from harness.config.recipes import load_recipe
from harness.config.run_spec import RunSpec
from harness.errors import ConfigError, PanbenchError
from harness.launch.plan import Launch, plan_runs
from harness.seeding import stable_digest
from harness.tracking.run_lock import RunLock
from harness.tracking.run_store import TRAIN_LOG, RunStore

SEARCH_DIR = "search"  # under the runs root: the default storage and the trials' leases
STORAGE_FILE = "optuna.db"
POLL_S = 1.0
MAX_FAILURES = 3  # failed trials of one process before it stops (at least the budget)
STARTING_S = 60.0  # a RUNNING trial without a lease file this old is a dead process's


class TrialFailed(PanbenchError):
    """A trial's run did not finish; the trial is recorded as failed."""


def search_config(recipe: str, overrides: list[str] = ()) -> SearchConfig:
    """The recipe's `search:` section, typed and checked."""
    cfg = load_recipe(recipe, list(overrides))
    section: SearchConfig = OmegaConf.to_object(cfg.search)
    check_fields(section, "search.")
    if not section.params:
        raise ConfigError(f"{recipe}: search.params is empty (name the recipe keys to search)")
    return section


def study_name(recipe: str, overrides: list[str] = ()) -> str:
    """The recipe's name and its fixed overrides (sorted: their order does not name another study),
    but for those of keys that never change results (`launch.*`, `wandb.*`: where and how runs report)."""
    name = str(load_recipe(recipe, list(overrides)).name)
    reporting = tuple(reporting_keys())
    named = sorted(o for o in overrides if not any(o.split("=", 1)[0] == k or o.startswith(k + ".")
                                                     for k in reporting))
    return name + (f"[{','.join(named)}]" if named else "")


def default_storage(runs_root: str | Path) -> str:
    path = Path(runs_root).resolve() / SEARCH_DIR / STORAGE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def open_storage(url: str):
    """An RDB storage; sqlite waits for a busy database instead of failing (several processes). Two
    processes that create one database at once race on its schema version: the loser opens it again."""
    import optuna
    from sqlalchemy.exc import IntegrityError

    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except IntegrityError:
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def load_search(name: str, storage: str):
    """The stored study `name` (a PanbenchError naming the stored ones when there is none)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = open_storage(storage)
    names = [s.study_name for s in optuna.get_all_study_summaries(store)]
    if name not in names:
        raise PanbenchError(f"{storage}: no study {name!r} (stored: {', '.join(names) or 'none'})")
    return optuna.load_study(study_name=name, storage=store)


def control_overrides(spec: RunSpec) -> list[str]:
    """The compute-matched plain control of `spec`: no augmentation, as many training iterations."""
    train = spec.settings.train
    if train.max_iters is not None:
        return ["data.panda=none"]
    mode = spec.settings.data.mode
    factor = 1.0 / (1.0 - mode.mix) if mode.online else float(mode.stored_copies + 1)
    return ["data.panda=none", f"train.epochs={json.dumps(train.epochs * factor)}"]


def param_overrides(params: dict[str, Any]) -> list[str]:
    """Sampled values as `key=value` overrides (JSON, which the override parser reads as YAML)."""
    return [f"{key}={json.dumps(value)}" for key, value in params.items()]


def suggest(trial, key: str, param: SearchParam) -> Any:
    if param.choices is not None:
        return trial.suggest_categorical(key, list(param.choices))
    if param.int:
        return trial.suggest_int(key, int(param.low), int(param.high), step=int(param.step or 1), log=param.log)
    return trial.suggest_float(key, param.low, param.high, step=param.step, log=param.log)


def grid_space(params: dict[str, SearchParam]) -> dict[str, list]:
    """GridSampler's space: every choice, or the range on its step."""
    import numpy as np

    space = {}
    for key, p in params.items():
        if p.choices is not None:
            space[key] = list(p.choices)
        elif p.step is None:
            raise ConfigError(f"search.params.{key}: the grid sampler needs a `step` or `choices`")
        else:
            values = np.arange(p.low, p.high + p.step / 2, p.step)
            space[key] = [int(v) for v in values] if p.int else [round(float(v), 10) for v in values]
    return space


def make_sampler(kind: str, params: dict[str, SearchParam]):
    import optuna

    if kind == "grid":
        return optuna.samplers.GridSampler(grid_space(params))
    return optuna.samplers.RandomSampler() if kind == "random" else optuna.samplers.TPESampler()


def make_pruner(kind: str):
    import optuna

    return optuna.pruners.MedianPruner() if kind == "median" else optuna.pruners.NopPruner()


def direction(section: SearchConfig) -> str:
    from harness.metrics.vocabulary import higher_is_better

    return section.direction or ("maximize" if higher_is_better(section.metric) else "minimize")


@dataclass
class Search:
    """One process's part of a study: its recipe, fixed overrides, space and where runs go."""

    recipe: str
    overrides: list[str]
    runs_root: Path
    trials: int
    storage: str
    section: SearchConfig
    executor: str = "local"
    sampler: str | None = None
    echo: Callable[[str], None] = print
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.runs_root = Path(self.runs_root)
        self.name = study_name(self.recipe, self.overrides)
        self.store = RunStore(self.runs_root)
        self.group = f"wandb.group={json.dumps(self.name)}"  # W&B runs grouped by study (not in the run id)

    def open(self):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # progress is this module's lines, on stdout
        return optuna.create_study(study_name=self.name, storage=open_storage(self.storage),
                                   sampler=make_sampler(self.sampler or self.section.sampler, self.section.params),
                                   pruner=make_pruner(self.section.pruner), direction=direction(self.section),
                                   load_if_exists=True)

    def lease(self, number: int) -> RunLock:
        folder = f"{stable_digest(self.name, 12)}-trial-{number}"
        return RunLock(self.runs_root / SEARCH_DIR / "trials" / folder)

    def run(self) -> int:
        """Trials until the study has `trials` finished ones; returns how many this process finished."""
        from optuna.trial import TrialState

        study = self.open()
        study.set_user_attr("recipe", self.recipe)
        study.set_user_attr("overrides", list(self.overrides))
        study.set_user_attr("objective", f"{self.section.metric} gain over the compute-matched control"
                            if self.section.control else self.section.metric)
        self.echo(f"study {self.name!r} in {self.storage}: {self.trials} trial(s)")
        done_here = failed_here = 0
        while True:
            self.recover(study)
            trials = study.get_trials(deepcopy=False)
            finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
            if finished >= self.trials:
                return done_here
            live = [t for t in trials if t.state == TrialState.RUNNING]
            if finished + len(live) >= self.trials:  # other processes finish the rest (or die: recovered)
                time.sleep(POLL_S)
                continue
            trial = study.ask()
            lease = self.lease(trial.number)
            lease.acquire()
            try:
                if self.surplus(study, trial):
                    continue
                state, value = self.one_trial(trial)
                study.tell(trial, value, state=state)
                done_here += state != TrialState.FAIL
                failed_here += state == TrialState.FAIL
                if failed_here >= max(MAX_FAILURES, self.trials):
                    raise PanbenchError(f"study {self.name!r}: {failed_here} trials of this process failed, the "
                                        f"last: {trial.user_attrs.get('error')}")
                self.echo(f"trial {trial.number}: {state.name.lower()}"
                          + (f", objective {value:.4g}" if value is not None else ""))
            except BaseException:
                lease.release()  # killed here: a restarted search finds the trial without a lease
                raise
            lease.release()

    def surplus(self, study, trial) -> bool:
        """Whether `trial` lies beyond the budget (counted in trial order): then it is failed at once."""
        from optuna.trial import TrialState

        kept = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        before = [t for t in study.get_trials(deepcopy=False, states=kept) if t.number < trial.number]
        if len(before) < self.trials:
            return False
        trial.set_user_attr("surplus", True)
        study.tell(trial, state=TrialState.FAIL)
        fixed = study.get_trials(deepcopy=False)[trial.number].system_attrs.get("fixed_params")
        if fixed:
            study.enqueue_trial(fixed, user_attrs={"retry_of": trial.number})
        return True

    def recover(self, study) -> None:
        """Fail the RUNNING trials whose process is gone (no live lease) and enqueue their parameters."""
        from optuna.trial import TrialState

        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            lease = self.lease(t.number)
            if lease.held_elsewhere() is not None:
                continue
            started = t.datetime_start.timestamp() if t.datetime_start else 0.0
            if not lease.path.exists() and time.time() - started < STARTING_S:
                continue  # just asked by a live process that has not written its lease yet
            try:
                study.tell(t.number, state=TrialState.FAIL)
            except Exception:  # another process recovered it first
                continue
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            self.echo(f"trial {t.number} was left running by a stopped process: failed, its parameters queued")

    def one_trial(self, trial) -> tuple[Any, float | None]:
        """Run the trial's runs; (state, objective)."""
        import optuna
        from optuna.trial import TrialState

        params = {key: suggest(trial, key, p) for key, p in self.section.params.items()}
        self.echo(f"trial {trial.number}: {' '.join(param_overrides(params))}")
        values, runs, controls = [], [], []
        try:
            for k, seed in enumerate(self.section.seeds):
                overrides = [*self.overrides, *param_overrides(params), f"seed={seed}", self.group]
                spec = RunSpec.from_recipe(self.recipe, overrides)
                runs.append(spec.run_id)
                trial.set_user_attr("run_ids", runs)
                baseline = 0.0
                if self.section.control:
                    c_over = [*self.overrides, *control_overrides(spec), f"seed={seed}", self.group]
                    c_spec = RunSpec.from_recipe(self.recipe, c_over)
                    controls.append(c_spec.run_id)
                    trial.set_user_attr("control_run_ids", controls)
                    baseline = self.metric(self.ensure(c_spec, c_over, None))
                metrics = self.ensure(spec, overrides, self.watcher(trial, k, spec))
                values.append(self.metric(metrics) - baseline)
                trial.set_user_attr("values", values)
        except optuna.TrialPruned:
            return TrialState.PRUNED, None
        except (PanbenchError, OSError) as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            self.echo(f"trial {trial.number} failed: {exc}")
            return TrialState.FAIL, None
        return TrialState.COMPLETE, sum(values) / len(values)

    def metric(self, metrics: dict) -> float:
        value = metrics.get(self.section.metric)
        if not isinstance(value, (int, float)):
            raise TrialFailed(f"the run's metrics have no {self.section.metric!r}")
        return float(value)

    def watcher(self, trial, k: int, spec: RunSpec) -> Callable[[], bool]:
        """Reports the run's new validation values; True when the pruner stops the trial. Steps of seed
        k follow those of the seeds before it, so one curve runs through every seed."""
        seen: set[int] = set()
        offset = k * 10**9

        def look() -> bool:
            for record in self.store.read_history(spec.run_id):
                value = (record.get("eval") or {}).get(self.section.metric)
                if isinstance(value, (int, float)) and record["step"] not in seen:
                    seen.add(record["step"])
                    trial.report(float(value), offset + int(record["step"]))
            return bool(seen) and trial.should_prune()

        return look

    def ensure(self, spec: RunSpec, overrides: list[str], watch: Callable[[], bool] | None) -> dict:
        """The run's metrics: a finished run is reused, one running elsewhere is waited for, else trained."""
        import optuna

        rid = spec.run_id
        while True:
            if self.store.is_finished(rid):
                return self.store.read_metrics(rid) or {}
            if RunLock(self.store.run_dir(rid)).held_elsewhere() is not None:
                time.sleep(POLL_S)  # e.g. the shared control, trained by another process of the study
                continue
            self.echo(f"  run {rid}: training (log: {self.store.run_dir(rid) / TRAIN_LOG})")
            if self.executor == "local":
                pruned = self.train_local(spec, overrides, watch)
            else:
                pruned = self.train_elsewhere(spec, overrides, watch)
            if pruned:
                raise optuna.TrialPruned()
            if not self.store.is_finished(rid) and RunLock(self.store.run_dir(rid)).held_elsewhere() is None:
                record = self.store.read_run(rid) or {}
                raise TrialFailed(f"run {rid} {record.get('status', 'did not start')}: {record.get('error')}")

    def train_local(self, spec: RunSpec, overrides: list[str], watch: Callable[[], bool] | None) -> bool:
        """The run as a process of this machine, its curve watched; True when the pruner stopped it."""
        from harness.launch.torchrun import RunFailed, run_process

        log = self.store.run_dir(spec.run_id) / TRAIN_LOG
        log.parent.mkdir(parents=True, exist_ok=True)
        stopped = threading.Event()
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(run_process, spec, self.recipe, overrides, self.runs_root, None, log)
            while not future.done():
                time.sleep(POLL_S)
                if watch is not None and not stopped.is_set() and watch():
                    stopped.set()
                    self._stop(spec.run_id)
            try:
                future.result()
            except RunFailed:
                pass  # its record says why (ensure reads it)
        if watch is not None and not stopped.is_set():
            watch()  # the values logged since the last look (a short run may end before the first)
        return stopped.is_set() and not self.store.is_finished(spec.run_id)

    def _stop(self, rid: str) -> None:
        """SIGTERM to the run's process (its lock says which): the run ends `interrupted`, resumable."""
        holder = RunLock(self.store.run_dir(rid)).holder()
        if holder is not None and holder.host == socket.gethostname():
            try:
                os.kill(holder.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def train_elsewhere(self, spec: RunSpec, overrides: list[str], watch: Callable[[], bool] | None) -> bool:
        """The run through the sweep's torchrun or SLURM executor; its curve is reported once it has
        finished (for the pruner's median of later trials), never stopped: False."""
        from harness.launch.sweep import run_sweep

        plan = plan_runs([spec], self.runs_root)
        run_sweep(plan, self.runs_root, executor=self.executor, echo=self.echo,
                  launch=Launch(self.recipe, tuple(overrides), self.runs_root))
        if watch is not None and self.store.is_finished(spec.run_id):
            watch()
        return False


def best_overrides(study) -> list[str]:
    """The best trial's parameters as overrides (`panbench train RECIPE --from-search R`)."""
    try:
        best = study.best_trial
    except ValueError:
        raise PanbenchError(f"study {study.study_name!r} has no complete trial yet") from None
    return param_overrides(best.params)
