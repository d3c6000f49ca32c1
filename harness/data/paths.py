"""Path confinement: a file named inside a JSON (an image, a label PNG, a prediction) lies inside the
folder it is named relative to. A dataset is data, not a licence to read or write elsewhere: a
`file_name` may not be absolute nor climb out with `..`, and it may not be a symlink resolving
outside its folder unless the user asks for that (`allow_outside_links=True`, CLI
`--allow-outside-links`: datasets whose images are links into a shared store)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from harness.errors import DatasetError

ALLOW_FLAG = "--allow-outside-links"


MAX_NAME = 4096  # PATH_MAX: a longer name is no file, and quoting it would flood the error line


def name_problem(name: Any) -> str | None:
    """Why `name` cannot be a file name relative to a folder (None when it can), without touching disk."""
    if not isinstance(name, str) or not name.strip():
        return "is not a file name (expected a non-empty string)"
    if "\x00" in name:
        return "contains a NUL character"
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or PureWindowsPath(name).drive:
        return "is an absolute path (file names are relative to their folder)"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "climbs out of its folder with '..'"
    if len(name) > MAX_NAME or any(len(part.encode()) > 255 for part in PurePosixPath(name).parts):
        return f"is longer than a file system allows ({len(name)} characters)"
    return None


def confined(folder: str | Path, name: Any, *, source: str | Path, entry: str,
             allow_outside_links: bool = False) -> Path:
    """`folder / name`, or a DatasetError naming `source` (the JSON that names the file), `entry`
    (e.g. "image 3") and the rule `name` breaks. The path is resolved (links followed) to check
    that it stays inside `folder`; the unresolved path is returned."""
    folder = Path(folder)
    problem = name_problem(name)
    if problem is None and not allow_outside_links:
        real = (folder / name).resolve()
        if not real.is_relative_to(folder.resolve()):
            problem = (f"resolves to {real}, outside {folder.name}/ through a symlink "
                       f"(pass {ALLOW_FLAG} to follow links out of the dataset)")
    if problem is not None:
        raise DatasetError(source, f"{entry}: file_name {name!r} {problem}")
    return folder / name
