"""A search's results, read from Optuna's storage (harness/launch/search.py): every trial with its
parameters, objective, state and run ids; the best parameters with their spread over seeds; and a
figure of the optimisation history and the parameters' importances (Optuna's matplotlib views)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pandas as pd

from analysis.tables import Table


def _seed_spread(values: list[float]) -> float:
    """Sample standard deviation of the per-seed objectives (NaN for one seed)."""
    return statistics.stdev(values) if len(values) > 1 else math.nan


def named_study(name: str | None, storage: str | None, runs_root: str | Path):
    """The study `--recipe R` names (a searched recipe's name, or a study's full name with its fixed
    overrides) in `storage` (default: the runs root's sqlite file)."""
    from harness.errors import ConfigError
    from harness.launch.search import default_storage, load_search

    if not name:
        raise ConfigError("search: needs --recipe R (the searched recipe, or its study's name)")
    return load_search(name, storage or default_storage(runs_root))


def search_table(study) -> Table:
    """One row per trial, in trial order: state, objective (mean ± std over seeds), each parameter,
    the trial's runs and the compute-matched controls they are compared with."""
    rows = []
    params = sorted({key for t in study.trials for key in t.params})
    for t in study.trials:
        values = [float(v) for v in t.user_attrs.get("values", [])]
        note = ("surplus" if t.user_attrs.get("surplus") else t.user_attrs.get("error", "")) if t.state.name == "FAIL" \
            else (f"retry of {t.user_attrs['retry_of']}" if "retry_of" in t.user_attrs else "")
        rows.append({"trial": t.number, "state": t.state.name.lower(),
                     "objective": t.value if t.value is not None else math.nan,
                     "objective_std": _seed_spread(values) if t.value is not None else math.nan,
                     **{p: t.params.get(p, math.nan) for p in params},
                     "runs": " ".join(t.user_attrs.get("run_ids", [])),
                     "controls": " ".join(t.user_attrs.get("control_run_ids", [])), "note": note})
    frame = pd.DataFrame(rows, columns=["trial", "state", "objective", "objective_std", *params, "runs", "controls",
                                        "note"])
    objective = study.user_attrs.get("objective", "objective")
    caption = (f"study {study.study_name} ({study.direction.name.lower()} the {objective}, mean ± std over seeds); "
               f"{best_line(study)}")
    return Table("search", frame, caption, {"objective": ".3f", "trial": "d", **{p: ".4g" for p in params}})


def best_line(study) -> str:
    """`best: trial 3, objective 1.2 ± 0.4 over 2 seeds, panda.scale_max=1.7 ...` (or why there is none)."""
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    if not complete:
        return "no complete trial yet"
    best = study.best_trial
    values = [float(v) for v in best.user_attrs.get("values", [best.value])]
    spread = _seed_spread(values)
    shown = f"{best.value:.3f}" + ("" if math.isnan(spread) else f" ± {spread:.3f}")
    params = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items())
    return f"best: trial {best.number}, objective {shown} over {len(values)} seed(s), {params}"


def search_figure(study, prefix: str | Path) -> list[Path]:
    """PREFIX.png / .svg: the optimisation history; PREFIX-importances.png / .svg: the parameters'
    importances (Optuna's default fANOVA; drawn once two trials are complete)."""
    import warnings

    import optuna.visualization.matplotlib as ov
    from optuna.exceptions import ExperimentalWarning

    from analysis.figures import save_figure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # the matplotlib views are marked experimental
        out = save_figure(_fitted(ov.plot_optimization_history(study).figure), prefix)
        if sum(t.state.name == "COMPLETE" for t in study.trials) >= 2:
            out += save_figure(_fitted(ov.plot_param_importances(study).figure), f"{prefix}-importances")
    return out


def _fitted(figure):
    """Wide enough for dotted parameter names (Optuna's views cut long tick labels)."""
    figure.set_size_inches(9, 4.5)
    figure.tight_layout()
    return figure
