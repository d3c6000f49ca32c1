"""The one JSON reader and the schemas of every JSON panbench reads: a COCO-panoptic dataset
(`panoptic.json`), a panoptic ground truth and prediction as panopticapi reads them, and a COCO
instance results list. A problem is `(file, "<entry>: <what is missing or wrong>")`, e.g.
`pred.json: annotations[3] (image 'a'): has no 'segments_info'`, so a bad file fails in one line
instead of a KeyError deep inside an evaluator.

Only types and presence are checked here; what ties entries together (unique ids, known
categories, files on disk, pixels) is `harness.data.validate`'s."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data.paths import name_problem
from harness.errors import DatasetError

Problem = tuple[str, str]  # (file, problem)


MAX_DEPTH = 64  # COCO-panoptic JSON nests 5 deep, a run record about 6: deeper is damage or hostile
TOP_TYPES = {dict: "a JSON object", list: "a JSON list"}


def nesting_depth(text: bytes) -> int:
    """The deepest bracket nesting of a JSON text, brackets inside strings ignored; vectorised over
    the bytes (the json module would recurse into a hostile file, and walking what it returns too)."""
    import numpy as np  # here: `panbench evaluate --help` loads no third-party module (tests/test_cli_startup.py)

    brackets_of = np.zeros(256, np.int8)
    brackets_of[[ord("["), ord("{")]], brackets_of[[ord("]"), ord("}")]] = 1, -1
    b = np.frombuffer(text, np.uint8)
    quotes, slashes = np.flatnonzero(b == ord('"')), np.flatnonzero(b == ord("\\"))
    if len(slashes):  # a quote is escaped by an odd run of backslashes just before it
        new_run = np.r_[True, np.diff(slashes) != 1]
        run_start = np.maximum.accumulate(np.where(new_run, slashes, 0))
        at = np.searchsorted(slashes, quotes - 1)
        ends_there = (at < len(slashes)) & (slashes[np.minimum(at, len(slashes) - 1)] == quotes - 1)
        run = np.where(ends_there, quotes - run_start[np.minimum(at, len(slashes) - 1)], 0)
        quotes = quotes[run % 2 == 0]
    delta = brackets_of[b]
    brackets = np.flatnonzero(delta)
    outside = np.searchsorted(quotes, brackets) % 2 == 0  # an even number of quotes before it
    steps = delta[brackets[outside]].astype(np.int64)
    return int(np.cumsum(steps).max()) if len(steps) else 0


def read_json(path: str | Path, expect: type | None = None) -> Any:
    """Parse a JSON file that came from outside, or raise DatasetError naming it in one line: missing,
    undecodable, invalid, nested deeper than MAX_DEPTH, an integer over Python's digit limit, or a
    top level that is not `expect` (dict or list). Nothing of the file's content is quoted."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "file is missing")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(path, f"cannot read ({exc.strerror or exc})") from None
    if (depth := nesting_depth(raw)) > MAX_DEPTH:
        raise DatasetError(path, f"nested {depth} levels deep, more than the {MAX_DEPTH} any panbench JSON needs")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(path, f"invalid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # int(): more digits than sys.get_int_max_str_digits()
        raise DatasetError(path, f"invalid JSON ({str(exc).split(';')[0][:100]})") from None
    if expect is not None and not isinstance(data, expect):
        raise DatasetError(path, f"is {_json_type(data)}, expected {TOP_TYPES[expect]}")
    return data


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def raise_first(problems: Iterable[Problem]) -> None:
    for path, problem in problems:
        raise DatasetError(path, problem)


# --- value kinds ----------------------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_bbox(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 4 and all(_is_number(x) for x in v)


def _is_rle(v: Any) -> bool:
    return (isinstance(v, dict) and isinstance(v.get("counts"), (str, list)) and isinstance(v.get("size"), list)
            and len(v["size"]) == 2 and all(_is_int(x) for x in v["size"]))


Check = Callable[[Any], "str | None"]  # a value -> what is wrong with it (None: nothing)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def kind(expected: str, accepts: Callable[[Any], bool]) -> Check:
    return lambda v: None if accepts(v) else f"is {_short(v)}, expected {expected}"


def _file(value: Any) -> str | None:
    problem = name_problem(value)
    return None if problem is None else f"{_short(value)} {problem}"


@dataclass(frozen=True)
class Key:
    name: str
    check: Check
    required: bool = True


ID = kind("an integer or a string", lambda v: _is_int(v) or isinstance(v, str))
INT = kind("an integer", _is_int)
NUMBER = kind("a number", _is_number)
FLAG = kind("0 or 1", lambda v: _is_int(v) and v in (0, 1))
TEXT = kind("a string", lambda v: isinstance(v, str))
FILE: Check = _file  # a file name relative to its folder (harness.data.paths)
LIST = kind("a list", lambda v: isinstance(v, list))
BBOX = kind("[x, y, w, h] (4 numbers)", _is_bbox)
RLE = kind("a COCO RLE {size: [h, w], counts}", _is_rle)


DATASET_IMAGE = (Key("id", ID), Key("file_name", FILE))  # sizes: validate checks them with the files
DATASET_ANNOTATION = (Key("image_id", ID), Key("file_name", FILE), Key("segments_info", LIST))
DATASET_SEGMENT = (Key("id", INT), Key("category_id", INT), Key("area", NUMBER), Key("bbox", BBOX),
                   Key("iscrowd", FLAG, required=False))
DATASET_CATEGORY = (Key("id", INT), Key("name", TEXT), Key("isthing", FLAG))
# panopticapi's pq_compute reads a ground truth's area and iscrowd when given, a prediction's ids only.
GT_SEGMENT = (Key("id", INT), Key("category_id", INT), Key("area", NUMBER, required=False),
              Key("iscrowd", FLAG, required=False))
PRED_SEGMENT = (Key("id", INT), Key("category_id", INT), Key("area", NUMBER, required=False))
GT_CATEGORY = (Key("id", INT), Key("name", TEXT), Key("isthing", FLAG, required=False))
INSTANCE_RESULT = (Key("image_id", ID), Key("category_id", INT), Key("score", NUMBER), Key("bbox", BBOX),
                   Key("segmentation", RLE, required=False))


def entry_problems(entry: Any, keys: tuple[Key, ...], where: str) -> Iterator[str]:
    """What is missing or of the wrong type in one JSON object (`where` names it)."""
    if not isinstance(entry, dict):
        yield f"{where}: is {_short(entry)}, expected an object"
        return
    for k in keys:
        if k.name not in entry:
            if k.required:
                yield f"{where}: has no '{k.name}'"
        elif (problem := k.check(entry[k.name])) is not None:
            yield f"{where}: {k.name} {problem}"


def _top_problems(data: Any, path: str, lists: tuple[str, ...]) -> Iterator[Problem]:
    if not isinstance(data, dict):
        yield path, f"is {type(data).__name__}, expected a JSON object with {', '.join(map(repr, lists))}"
        return
    for name in lists:
        if name not in data:
            yield path, f"missing top-level key '{name}'"
        elif not isinstance(data[name], list):
            yield path, f"top-level '{name}' is {type(data[name]).__name__}, expected a list"


def entry_valid(entry: Any, keys: tuple[Key, ...]) -> bool:
    """True when `entry_problems` would find nothing: the fast path of large lists, where naming
    each entry up front cost more than checking it (a dataset's segments)."""
    return isinstance(entry, dict) and all(
        k.check(entry[k.name]) is None if k.name in entry else not k.required for k in keys)


def _annotation_problems(annotations: list, path: str, annotation_keys: tuple[Key, ...],
                         segment_keys: tuple[Key, ...]) -> Iterator[Problem]:
    for i, ann in enumerate(annotations):
        where = f"annotations[{i}]" + (f" (image {ann.get('image_id')!r})" if isinstance(ann, dict) and
                                       "image_id" in ann else "")
        found = list(entry_problems(ann, annotation_keys, where))
        yield from ((path, p) for p in found)
        if found:
            continue
        for j, seg in enumerate(ann["segments_info"]):
            if entry_valid(seg, segment_keys):
                continue
            seg_where = f"{where} segments_info[{j}]" + (f" (id {seg.get('id')!r})" if isinstance(seg, dict) and
                                                         "id" in seg else "")
            yield from ((path, p) for p in entry_problems(seg, segment_keys, seg_where))


def _list_problems(items: list, name: str, keys: tuple[Key, ...], path: str) -> Iterator[Problem]:
    for i, item in enumerate(items):
        label = item.get("id") if isinstance(item, dict) else None
        where = f"{name}[{i}]" + (f" (id {label!r})" if label is not None else "")
        yield from ((path, p) for p in entry_problems(item, keys, where))


def dataset_top_problems(data: Any, path: str | Path) -> Iterator[Problem]:
    """A panoptic.json must be an object with the lists images, annotations and categories."""
    return _top_problems(data, str(path), ("images", "annotations", "categories"))


def dataset_problems(data: dict, path: str | Path) -> Iterator[Problem]:
    """Every entry of a COCO-panoptic dataset JSON with a missing or mistyped key."""
    path = str(path)
    top = list(dataset_top_problems(data, path))
    if top:
        yield from top
        return
    yield from _list_problems(data["images"], "images", DATASET_IMAGE, path)
    yield from _list_problems(data["categories"], "categories", DATASET_CATEGORY, path)
    yield from _annotation_problems(data["annotations"], path, DATASET_ANNOTATION, DATASET_SEGMENT)


def read_panoptic_json(path: str | Path, ground_truth: bool) -> dict:
    """A panoptic ground truth (annotations and categories) or prediction (annotations) as
    panopticapi reads it, schema-checked."""
    data = read_json(path)
    path = str(path)
    lists = ("annotations", "categories") if ground_truth else ("annotations",)
    raise_first(_top_problems(data, path, lists))
    if ground_truth:
        raise_first(_list_problems(data["categories"], "categories", GT_CATEGORY, path))
    raise_first(_annotation_problems(data["annotations"], path, DATASET_ANNOTATION,
                                     GT_SEGMENT if ground_truth else PRED_SEGMENT))
    return data


def read_instance_results(path: str | Path) -> list[dict]:
    """A COCO results file: a list of scored instances, or an object holding them under `annotations`."""
    data = read_json(path)
    data = data.get("annotations") if isinstance(data, dict) else data
    if not isinstance(data, list):
        raise DatasetError(path, "expected a list of predictions (or {'annotations': [...]})")
    for i, prediction in enumerate(data):
        raise_first((str(path), p) for p in entry_problems(prediction, INSTANCE_RESULT, f"prediction {i}"))
    return data
