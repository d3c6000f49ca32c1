"""A run's dependencies: other runs that must be finished before it starts (a synthesis run's
evaluators today; a generator for rendered PanDA or a search's trials are more entries of the same
table). A recipe key names each, in one of three forms:

- a weights FILE (a path, or a bare name looked up in $PANBENCH_WEIGHTS): nothing to plan;
- a RUN ID (12 hex digits) of a run in the store: it must be finished;
- a RECIPE REFERENCE, `RECIPE [key=value ...]` as `panbench train` takes it, e.g.
  `synth-evaluators-mini model.name=drn-d-mini`: the recipe's grid cell whose model is of the kind
  the key asks for (pin `model.name` when the grid has several), i.e. one run spec.

A reference is an upstream stage: the sweep planner (harness/launch/plan.py) puts its run before the
runs that need it and executes it with the same executor; `panbench train` of a single run does the
same for a dependency that is not finished. The run itself only `resolve`s: each key to the weights
of a finished run or the file given, never training, spawning or waiting (a run that is not finished
is one line naming it and how it gets trained)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from harness.errors import ConfigError, PanbenchError
from harness.models.registry import model_family
from harness.seeding import RUN_ID
from harness.weight_files import candidate_path, missing_message

if TYPE_CHECKING:
    from harness.config.recipe_schema import RecipeConfig
    from harness.config.run_spec import RunSpec



WEIGHT_SUFFIXES = (".pth", ".pt", ".pkl", ".bin", ".safetensors", ".ckpt")


class DependencyError(PanbenchError):
    """A run a recipe depends on cannot be had (unknown, unfinished, failed, of the wrong kind)."""


@dataclass(frozen=True)
class DependencyKey:
    """A recipe key that names another run: which family that run must be of, and for which runs the
    key applies (its value is ignored by the others)."""

    key: str
    kind: str  # harness.models.registry.model_family of the named run
    applies: Callable[["RecipeConfig"], bool]


def _synthesis(recipe: "RecipeConfig") -> bool:
    return model_family(recipe.model.name) == "synthesis"


def _rendered_panda(recipe: "RecipeConfig") -> bool:
    """A run whose PanDA set is drawn on a generator canvas (issue 25)."""
    return recipe.panda.canvas != "noise" and recipe.data.mode.copies > 0


DEPENDENCY_KEYS = (
    DependencyKey("eval.segmenter", "segmenter", _synthesis),
    DependencyKey("eval.detector", "detector", _synthesis),
    DependencyKey("panda.generator", "synthesis", _rendered_panda),
)


@dataclass(frozen=True)
class Dependency:
    """One run's need, as its recipe writes it."""

    key: str
    kind: str
    value: str

    def describe(self) -> str:
        return f"{self.key} {self.value!r}"

    @property
    def is_file(self) -> bool:
        path = candidate_path(self.value)  # a bare file name: in the weights folder ($PANBENCH_WEIGHTS)
        return path.is_file() and path.suffix not in (".yaml", ".yml")

    @property
    def names_file(self) -> bool:
        """A weights file, there or not: the value exists as a file, or its first word has a folder
        part or a weights file's suffix (a reference's first word is a recipe name, which has neither).
        A missing one is a preflight problem (harness/train/preflight.py), not a recipe to look for."""
        first = (self.value.split() or [""])[0]
        return self.is_file or "/" in first or Path(first).suffix in WEIGHT_SUFFIXES


@dataclass(frozen=True)
class Upstream:
    """A dependency named by recipe reference: the run to train first, and the recipe and overrides
    that name it (what a launched process is given)."""

    dependency: Dependency
    recipe: str
    overrides: tuple[str, ...]
    spec: "RunSpec"


def dependencies(recipe: "RecipeConfig") -> list[Dependency]:
    """The dependencies `recipe` declares (keys that apply to its model and are set)."""
    out = []
    for entry in (e for e in DEPENDENCY_KEYS if e.applies(recipe)):  # a key of its family's config
        section, name = entry.key.split(".")
        value = getattr(getattr(recipe, section), name)
        if value is not None:
            out.append(Dependency(entry.key, entry.kind, value))
    return out


def named_file(dependency: Dependency) -> Path | None:
    """The weights file a dependency names, None when it names a run; a DependencyError (one line: the
    file looked for and how to get it) when it names a file that is not there."""
    if not dependency.names_file:
        return None
    if not dependency.is_file:
        raise DependencyError(missing_message(dependency.value, f"{dependency.kind} weights", dependency.key))
    return candidate_path(dependency.value)


def reference_overrides(value: str, kind: str) -> tuple[str, list[str], "RunSpec"]:
    """(recipe, overrides, run spec) of a recipe reference; the overrides pin `model.name` to the cell
    of `kind`, so the reference, `panbench train` and a launched process mean one run."""
    from harness.config.recipes import load_recipe
    from harness.config.run_spec import RunSpec, run_specs

    try:
        recipe, *overrides = shlex.split(value)
    except ValueError as exc:
        raise ConfigError(f"{kind} {value!r}: not a recipe reference ({exc})") from None
    cells = [s for s in run_specs(load_recipe(recipe, overrides)) if model_family(s.model) == kind]
    if len(cells) != 1:
        why = (f"{len(cells)} {kind} cells ({', '.join(s.model for s in cells)}): pin its grid keys to one "
               f"(model.name=..., ...)") if cells else f"no {kind} cell"
        raise DependencyError(f"{kind} {value!r}: recipe {recipe} has {why}")
    if not any(o.split("=", 1)[0].strip() == "model.name" for o in overrides):
        overrides = [*overrides, f"model.name={cells[0].model}"]
    spec = RunSpec.from_recipe(recipe, overrides)
    if spec.run_id != cells[0].run_id:
        raise DependencyError(f"{kind} {value!r}: the pinned cell is not the grid's (its other grid keys take "
                              f"their first values); pin them too")
    return recipe, overrides, spec


def upstream(dependency: Dependency) -> Upstream | None:
    """The run to plan before the dependent one; None for a weights file or a run id (planned by nobody)."""
    if dependency.names_file or RUN_ID.match(dependency.value):
        return None
    recipe, overrides, spec = reference_overrides(dependency.value, dependency.kind)
    return Upstream(dependency, recipe, tuple(overrides), spec)


def upstream_runs(spec: "RunSpec") -> list[Upstream]:
    """Every upstream run of `spec`, once each, in declaration order."""
    found: dict[str, Upstream] = {}
    for dependency in dependencies(spec.settings):
        up = upstream(dependency)
        if up is not None:
            found.setdefault(up.spec.run_id, up)
    return list(found.values())

