"""One registered spec per paper table and per figure: the one place that says what each is.

A `TableSpec` names the table, says what it is, which recipe feeds it (`recipe`: the paper-scale
recipe; SCALE=mini adds `-mini`), how its rows are built from the run store (`runs`), how the paper's
numbers are laid out (`reference`: a `Layout` of results/reference/<name>.csv, or a function that
recomputes them), the published caption, and how ours and the paper's rows meet (`compare`: the
ours | paper | Δ view of `--source both`, with the Δ between arms and its 95 % interval). A `FigureSpec`
names a figure, its flags and how it is drawn. `panbench table`, `figure`, `report`, `specs`, the
dashboard (`table_specs()`) and the Makefile (`panbench specs sweep-args` / `render`) read them here;
adding a table or a figure is one entry below."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import pandas as pd

from analysis import reference as ref
from analysis.compare import Comparison, compare_tables
from analysis.provenance import code_state_line
from analysis.realism import realism_table
from analysis.synthesis_tables import synthesis_runs, synthesis_table
from analysis.tables import (PANOPTIC_METRICS, THINGS, RunFilter, Table, ablation_label, fit_table, per_class_table,
                             reference_fit, reference_table3, runs_copies_table, runs_fits, runs_peers_table,
                             runs_table3, seed_table,
                             select_runs, wide)
from harness.errors import PanbenchError
from harness.metrics.vocabulary import higher_is_better

SCALES = ("full", "mini", "small")
SOURCES = ("runs", "reference", "both")
SEED_KEYS = ["model", "dataset", "n", "variant"]


def scale_suffix(scale: str) -> str:
    """A recipe's name at `scale`: full the paper's, mini its `-mini` CPU variant, small its `-small` one (the
    length where augmentation beats extra iterations; panda-table2 and panda-peers have one)."""
    return "" if scale == "full" else f"-{scale}"


@dataclass(frozen=True)
class Layout:
    """How a published table prints: one row per `index` tuple of its CSV, one column per value of
    `columns` (`metric` or `category`), in `order` (empty: the CSV's own order)."""

    index: tuple[str, ...]
    columns: str = "metric"
    order: tuple[str, ...] = ()

    def frame(self, name: str) -> pd.DataFrame:
        long = ref.load_reference(name)
        return wide(long, list(self.index), self.columns, list(self.order) or list(dict.fromkeys(long[self.columns])))


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str  # one line: what the table is
    recipe: str | None  # the paper-scale recipe whose runs it shows (None: any runs; no make target)
    runs: Callable[[str, pd.DataFrame, Path], Table]  # (name, selected finished runs, run store) -> Table
    reference: Layout | Callable[[], Table] | None = None  # None: the papers print no such table
    caption: str = ""  # the published table's caption, for a Layout
    compare: Comparison | None = None  # ours | paper | Δ
    target: str | None = None  # the make target that renders it (default: its name)

    def recipe_for(self, scale: str) -> str | None:
        return None if self.recipe is None else self.recipe + scale_suffix(scale)

    @property
    def directions(self) -> dict[str, str]:
        """The compared metric columns and which way is better (harness.metrics.vocabulary)."""
        metrics = self.compare.metrics if self.compare else ()
        return {m: "higher" if higher_is_better(m) else "lower" for m in metrics}


@dataclass(frozen=True)
class FigureSpec:
    name: str
    title: str
    draw: Callable[[argparse.Namespace], list[Path]]
    flags: tuple[tuple[str, dict], ...] = ()  # its own options: (flag, argparse keywords)
    recipe: str | None = None
    reference: bool = False  # whether `--source reference` draws the paper's numbers
    target: str | None = None
    from_runs: bool = True  # drawn from the run store (False: from dataset folders)


# --- rows from runs ---------------------------------------------------------------------------------------------

def _seeds(caption: str, name: str, runs: pd.DataFrame, root: Path) -> Table:
    return seed_table(name, runs, SEED_KEYS, caption)


def _ablation(name: str, runs: pd.DataFrame, root: Path) -> Table:
    return seed_table(name, runs.assign(variant=ablation_label(runs)), SEED_KEYS,
                      "PanDA Table 4 (ablation of the PanDA operations) from the run store.")


def _per_class(metric: str, name: str, runs: pd.DataFrame, root: Path) -> Table:
    return per_class_table(name, runs, root, metric)


def _fit(name: str, runs: pd.DataFrame, root: Path) -> Table:
    fits, group = runs_fits(runs)
    return fit_table(fits, name, f"Log-linear fits of the runs without PanDA ({group}).")


def _synthesis(name: str, runs: pd.DataFrame, root: Path) -> Table:
    return Table(name, *synthesis_table(name, runs, root))


def _seed_rows(runs: pd.DataFrame) -> pd.DataFrame:
    return runs.rename(columns={"n": "images"})


def _ablation_rows(runs: pd.DataFrame) -> pd.DataFrame:
    return _seed_rows(runs.assign(variant=ablation_label(runs)))


PANDA_ARM = ("variant", "none")  # PanDA (or an ablated operation set) vs the original images
PANDA_COMPARE = partial(Comparison, metrics=("pq", "miou", "ap", "ap_box"), arm=PANDA_ARM, rows=_seed_rows)
SYNTH_COMPARE = partial(Comparison, match=("method",), metrics=("det_ap", "miou", "accuracy", "fid", "kid"),
                        arm=("method", "spade"), rows=synthesis_runs)

TABLES: dict[str, TableSpec] = {spec.name: spec for spec in (
    TableSpec("panda-table1", "PanDA Table 1: models x PanDA on Cityscapes", "panda-table1",
              partial(_seeds, "PanDA Table 1 (models x PanDA variants) from the run store."),
              Layout(("model", "variant"), order=tuple(PANOPTIC_METRICS)),
              "PanDA Table 1, results on Cityscapes (3,000 images; PanDA 1x adds 3,000 synthetic). Sec. 4.3's text "
              "quotes +1.1 PQ, +0.9 AP, +1.1 APbox over the baseline; the table gives +1.1 PQ, +1.1 AP, +0.9 APbox "
              "(AP and APbox swapped in the text).",
              PANDA_COMPARE(match=("model", "variant"))),
    TableSpec("panda-table2", "PanDA Table 2: training-set sizes x PanDA", "panda-table2",
              partial(_seeds, "PanDA Table 2 (training-set sizes x PanDA) from the run store."),
              Layout(("dataset", "images", "variant"), order=tuple(PANOPTIC_METRICS)),
              "PanDA Table 2, across scales and datasets (UPSNet-50). Its 3,000-image baseline row is the UPSNet "
              "paper's published result (Xiong et al., Supp. Table 1), not the authors' baseline of Table 1 "
              "(58.8 PQ) that Eq. 1-3 and Table 3 use.",
              PANDA_COMPARE(match=("dataset", "images", "variant"))),
    TableSpec("panda-table3", "PanDA Table 3: data efficiency", "panda-table2",
              lambda name, runs, root: runs_table3(runs),
              reference_table3, compare=Comparison(match=("images", "metric"), metrics=("n_orig", "n_aug", "de"))),
    TableSpec("panda-table4", "PanDA Table 4: ablation of the PanDA operations", "panda-table4", _ablation,
              Layout(("variant",), order=tuple(PANOPTIC_METRICS)),
              "PanDA Table 4, ablation on Cityscapes (UPSNet-50; PanDA rows are 1x, hence also twice the iterations). "
              "The text layout hides which columns the two three-mark rows tick; taken in column order: "
              "dropout+resize, then dropout+shift.",
              PANDA_COMPARE(match=("variant",), rows=_ablation_rows)),
    TableSpec("panda-fit", "PanDA Eq. 1-3: log-linear fits of metric vs ln(n)", "panda-table2", _fit, reference_fit,
              compare=Comparison(match=("metric",), metrics=("slope", "intercept", "r2")), target="panda-table3"),
    TableSpec("panda-supp-table1", "PanDA Supp. Table 1: extended results on Cityscapes", "panda-table1",
              partial(_seeds, "PanDA Table 1 (models x PanDA variants) from the run store."),
              Layout(("source", "model", "variant"), order=tuple(PANOPTIC_METRICS)),
              "PanDA Supplementary Table 1, extended results on Cityscapes (PanDA 2x: 3,000 original + 6,000 "
              "synthetic images).",
              PANDA_COMPARE(match=("model", "variant"), paper_rows=(("source", "ours"),)), target="panda-supp"),
    TableSpec("panda-supp-table2", "PanDA Supp. Table 2: per-class mask AP", "panda-table1", partial(_per_class, "ap"),
              Layout(("source", "variant"), "category", tuple(THINGS)),
              "PanDA Supplementary Table 2, per-class mask AP on Cityscapes. The caption's relative gains (train "
              "18.4 %, bicycle 13.1 %, car and person 3.5 %) are PanDA 2x over Xiong et al.",
              Comparison(match=("variant",), metrics=tuple(THINGS), paper_rows=(("source", "ours"),)),
              target="panda-supp"),
    TableSpec("panda-supp-table3", "PanDA Supp. Table 3: per-class box AP", "panda-table1",
              partial(_per_class, "ap_box"), Layout(("source", "variant"), "category", tuple(THINGS)),
              "PanDA Supplementary Table 3, per-class box AP on Cityscapes.",
              Comparison(match=("variant",), metrics=tuple(THINGS), paper_rows=(("source", "ours"),)),
              target="panda-supp"),
    TableSpec("synth-table1", "Synthesis Table 1: generators on Cityscapes", "synth-table1", _synthesis,
              Layout(("source",)), "Panoptic-based image synthesis Table 1, Cityscapes (SPADE* retrained by the "
                                   "authors).", SYNTH_COMPARE()),
    TableSpec("synth-table2", "Synthesis Table 2: generators on COCO-Stuff", "synth-table2", _synthesis,
              Layout(("source",)), "Panoptic-based image synthesis Table 2, COCO-Stuff.", SYNTH_COMPARE()),
    TableSpec("synth-table3", "Synthesis per-class IoU on Cityscapes", "synth-table1", _synthesis,
              Layout(("source",), "category"),
              "Panoptic-based image synthesis per-class IoU on Cityscapes (printed as Table 3, cited in the text as "
              "Table 4). Class means: Ours 64.75 (Table 1: 64.8), SPADE 62.23 (Table 1: 62.3).",
              Comparison(match=("method",), metrics=())),
    TableSpec("synth-table4", "Synthesis Table 4: ablation of the panoptic layers", "synth-table4", _synthesis,
              Layout(("source",)), "Panoptic-based image synthesis Table 4, ablation on Cityscapes, averaged over 3 "
                                   "runs (hence not equal to Table 1).",
              SYNTH_COMPARE(metrics=("miou", "det_ap"), rows=partial(synthesis_runs, ablation=True))),
    TableSpec("per-class-pq", "per-class PQ of the selected runs", None, partial(_per_class, "pq")),
    TableSpec("per-class-iou", "per-class IoU of the selected runs", None, partial(_per_class, "iou")),
    TableSpec("panda-copies", "the copies study: PanDA Kx / online vs compute-matched controls", "panda-copies",
              lambda name, runs, root: runs_copies_table(runs)),
    TableSpec("panda-realism", "does realism matter? PanDA canvases vs compute-matched control, with the set's FID",
              "panda-realism", lambda name, runs, root: realism_table(runs)),
    TableSpec("panda-peers", "the peers study: PanDA / Copy-Paste / both, 1x and online, vs compute-matched controls",
              "panda-peers", lambda name, runs, root: runs_peers_table(runs)),
)}


def table_specs() -> list[TableSpec]:
    """Every registered table, in the order of the papers."""
    return list(TABLES.values())


def table_spec(name: str) -> TableSpec:
    if name not in TABLES:
        raise PanbenchError(f"{name}: unknown table (known: {', '.join(TABLES)})")
    return TABLES[name]


def reference_table(spec: TableSpec) -> Table:
    if spec.reference is None:
        raise PanbenchError(f"{spec.name}: the papers print no such table; use --source runs")
    if isinstance(spec.reference, Layout):
        return Table(spec.name, spec.reference.frame(spec.name), spec.caption)
    return spec.reference()


def paper_table(spec: TableSpec) -> Table:
    """The published numbers with the comparison's match keys as columns (a layout's own rows may be
    named otherwise, e.g. the synthesis tables print a `source` per `method`)."""
    if not isinstance(spec.reference, Layout):
        return reference_table(spec)
    match = spec.compare.match + tuple(k for k, _ in spec.compare.paper_rows if k not in spec.compare.match)
    layout = Layout(match, spec.reference.columns, spec.reference.order)
    return Table(spec.name, layout.frame(spec.name), spec.caption)


def build_table(name: str, source: str = "reference", where: RunFilter | None = None) -> Table:
    """`name` from the published numbers (`source="reference"`), from finished runs (`"runs"`), or
    both side by side with Δ (`"both"`). Run tables end with a line naming the code states when the
    runs come from more than one (analysis/provenance.py); a check that the runs must agree on something
    (e.g. the synthesis evaluation protocol) belongs beside it, on `runs` before `spec.runs` builds rows."""
    spec = table_spec(name)
    if source not in SOURCES:
        raise PanbenchError(f"--source {source}: expected one of {', '.join(SOURCES)}")
    if source == "reference":
        return reference_table(spec)
    where = where or RunFilter()
    runs = select_runs(where)
    table = spec.runs(name, runs, where.root)
    if source == "both":
        if spec.compare is None or spec.reference is None:
            raise PanbenchError(f"{name}: the papers print no such table, so there is no paper column; "
                                "use --source runs")
        table = compare_tables(spec.compare, table, paper_table(spec), runs)
    state = code_state_line(runs)
    return Table(table.name, table.frame, f"{table.caption} {state}" if state else table.caption, table.formats)


# --- figures ----------------------------------------------------------------------------------------------------

def run_filter(args: argparse.Namespace) -> RunFilter:
    return RunFilter(root=args.runs_root, recipe=args.recipe, model=args.model, dataset=args.dataset)


def _fig3(args: argparse.Namespace) -> list[Path]:
    from analysis.paper_figures import fig3

    return fig3(args.out, args.source, run_filter(args))


def _copies(args: argparse.Namespace) -> list[Path]:
    from analysis.paper_figures import copies_figure

    return copies_figure(args.out, run_filter(args), args.source)


def _peers(args: argparse.Namespace) -> list[Path]:
    from analysis.paper_figures import peers_figure

    return peers_figure(args.out, run_filter(args), args.source)


def _per_class_bars(args: argparse.Namespace) -> list[Path]:
    from analysis.paper_figures import per_class_figure

    return per_class_figure(build_table(args.table, args.source, run_filter(args)), args.out)


def _class_share(args: argparse.Namespace) -> list[Path]:
    from analysis.figures import class_share_treemap, save_figure
    from analysis.labels import dataset_labels
    from harness.data.stats import class_pixel_share, share_bars

    roots = [args.root] + ([args.compare] if args.compare is not None else [])
    frames = [(label, class_pixel_share(root)) for label, root in zip(dataset_labels(roots), roots)]
    return (save_figure(class_share_treemap(frames), f"{args.out}-treemap")
            + save_figure(share_bars(frames), f"{args.out}-bars"))


def _fig4(args: argparse.Namespace) -> list[Path]:
    from analysis.upsampling_alignment import parse_size, write_figure4
    from harness.progress import interactive

    return write_figure4(args.root, parse_size(args.size), parse_size(args.smallest), args.out,
                         progress=interactive())


def _samples(args: argparse.Namespace) -> list[Path]:
    from analysis.figures import save_figure
    from analysis.synthesis_samples import synthesis_samples

    return save_figure(synthesis_samples(select_runs(run_filter(args)), args.runs_root, args.images), args.out)


def _search(args: argparse.Namespace) -> list[Path]:
    from analysis.search import named_study, search_figure

    return search_figure(named_study(args.recipe, args.storage, args.runs_root), args.out)


def _realism(args: argparse.Namespace) -> list[Path]:
    from analysis.figures import save_figure
    from analysis.realism import realism_figure

    return save_figure(realism_figure(build_table("panda-realism", "runs", run_filter(args))), args.out)


def _realism_grid(args: argparse.Namespace) -> list[Path]:
    from analysis.realism import realism_grid
    from harness.atomic import encode_png, write_bytes

    path = Path(f"{args.out}.png")
    write_bytes(path, encode_png(realism_grid(select_runs(run_filter(args)), args.image)))
    return [path]


PER_CLASS_TABLES = tuple(s.name for s in TABLES.values() if getattr(s.runs, "func", None) is _per_class)
ROOT = {"type": Path, "required": True, "help": "a COCO-panoptic dataset root (original images)"}

FIGURES: dict[str, FigureSpec] = {spec.name: spec for spec in (
    FigureSpec("fig3", "PanDA Fig. 3 / Supp. Fig. 4: error vs training-set size, fits with and without PanDA",
               _fig3, recipe="panda-table2", reference=True, target="panda-fig3"),
    FigureSpec("class-share", "PanDA Supp. Figs 1-2: class pixel share before / after PanDA", _class_share,
               (("--root", ROOT), ("--compare", {"type": Path, "default": None,
                                                 "help": "a second dataset (e.g. its PanDA set)"})), from_runs=False),
    FigureSpec("per-class", "per-class bars of a per-class table (e.g. PanDA Supp. Tables 2-3)", _per_class_bars,
               (("--table", {"default": "panda-supp-table2", "choices": PER_CLASS_TABLES,
                             "help": "the per-class table to draw"}),)),
    FigureSpec("panda-copies", "the copies study: PQ / AP against PanDA copies beside compute-matched controls",
               _copies, recipe="panda-copies"),
    FigureSpec("panda-peers", "the peers study: each arm's Δ against its compute-matched control, 95-percent interval",
               _peers, recipe="panda-peers"),
    FigureSpec("search", "a search's optimisation history and parameter importances (--recipe R: its study)",
               _search, (("--storage", {"default": None, "metavar": "URL",
                                        "help": "the study's Optuna storage (default: sqlite under the runs root)"}),),
               from_runs=False),
    FigureSpec("synth-fig4", "synthesis Fig. 4: how often 2x upsampling crosses a panoptic segment", _fig4,
               (("--root", ROOT),
                ("--size", {"default": "256x512", "help": "generator output size HxW (maps resized to it)"}),
                ("--smallest", {"default": "8x16", "help": "the generator's first scale HxW"})), from_runs=False),
    FigureSpec("synth-samples", "synthesis Figs 6-7: label | real | SPADE | panoptic SPADE", _samples,
               (("--images", {"type": int, "default": 3, "help": "validation label maps shown (rows)"}),),
               recipe="synth-table1"),
    FigureSpec("panda-realism", "does realism matter? Δ PQ vs the PanDA set's FID, with the Δ's intervals", _realism,
               recipe="panda-realism"),
    FigureSpec("panda-realism-grid", "one source image, its four augmented versions (noise, generator canvas, "
               "rendered, rendered original) and their labels", _realism_grid,
               (("--image", {"type": int, "default": 0, "help": "index of the source image in the subset"}),),
               recipe="panda-realism"),
)}


def figure_specs() -> list[FigureSpec]:
    return list(FIGURES.values())


def make_targets() -> dict[str, tuple[str, list[str]]]:
    """make target -> (the full-scale recipe it sweeps, the tables it renders) for every table with a
    recipe (`panbench specs`)."""
    targets: dict[str, tuple[str, list[str]]] = {}
    for spec in TABLES.values():
        if spec.recipe is not None:
            targets.setdefault(spec.target or spec.name, (spec.recipe, []))[1].append(spec.name)
    return targets


def table_source(name: str, source: str) -> str:
    """`both` where the papers print the table, else `runs` (a study the papers publish nothing for)."""
    spec = table_spec(name)
    return "runs" if source == "both" and (spec.compare is None or spec.reference is None) else source


def render_target(names: list[str], recipe: str, out: Path, root: Path) -> list[Path]:
    """A make target's tables: ours | paper | Δ from `recipe`'s runs as NAME.csv / NAME.md, and the
    paper's own as NAME-paper.csv."""
    from analysis.render import print_table, write_table

    written = []
    for name in names:
        table = build_table(name, table_source(name, "both"), RunFilter(root=root, recipe=recipe))
        print_table(table)
        written += [write_table(table, out / f"{name}.csv"), write_table(table, out / f"{name}.md", "markdown")]
        if table_spec(name).reference is not None:
            written.append(write_table(build_table(name, "reference"), out / f"{name}-paper.csv"))
    return written
