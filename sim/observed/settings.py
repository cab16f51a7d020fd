"""Where the observed data folder is: one setting, resolved in a fixed order.

The folder of public series (see ``docs/DATA.md``) is never part of the repository.
:func:`resolve_data_dir` takes the first of

(a) ``explicit``: the command line's ``--data DIR`` (or a ``data_dir=`` argument);
(b) the environment variable :data:`ENV_VAR` (``MULTIVECTOR_DATA``);
(c) ``data = "DIR"`` in a TOML file: ``multivector.toml`` in the current directory, then
    ``~/.config/multivector/config.toml`` (a relative ``DIR`` is relative to that file);
(d) ``../shared/validation`` beside the repository root (the parent of the folder that
    holds ``sim/``), when it exists.

and says which of them chose the folder, since every report must name its data.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sim.errors import UserError

#: The environment variable naming the data folder.
ENV_VAR = "MULTIVECTOR_DATA"
#: The project config file looked for in the current directory.
LOCAL_CONFIG = "multivector.toml"
#: The per-user config file.
USER_CONFIG = Path("~/.config/multivector/config.toml")
#: The default folder, relative to the repository root.
DEFAULT_RELATIVE = Path("..") / "shared" / "validation"

_HOW_TO = (
    "Set it with `--data DIR`, the environment variable MULTIVECTOR_DATA, or a line "
    '`data = "DIR"` in multivector.toml (current directory) or '
    "~/.config/multivector/config.toml; see docs/DATA.md for the files it must hold."
)


@dataclass(frozen=True)
class DataDir:
    """A resolved data folder: ``path`` (absolute), ``how`` (``"explicit"``, ``"env"``,
    ``"config"`` or ``"default"``) and ``detail`` (the option, variable or file that
    named it)."""

    path: Path
    how: str
    detail: str

    def describe(self) -> str:
        """One line for reports: ``/x/validation (from MULTIVECTOR_DATA)``."""
        return f"{self.path} (from {self.detail})"


def repository_root() -> Path:
    """The parent of the folder holding ``sim/`` (the repository when run from a checkout)."""
    return Path(__file__).resolve().parents[2]


def default_data_dir() -> Path:
    """``../shared/validation`` beside the repository root (it may not exist)."""
    return (repository_root() / DEFAULT_RELATIVE).resolve()


def config_files() -> list[Path]:
    """The config files looked at, in order (whether or not they exist)."""
    return [Path.cwd() / LOCAL_CONFIG, USER_CONFIG.expanduser()]


def _from_config(path: Path) -> Path | None:
    """The ``data`` entry of the TOML file ``path``, made absolute; None when the file or
    the entry is absent. A malformed file or entry is a :class:`UserError`."""
    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            table = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: cannot read the config file: {exc}") from None
    value = table.get("data")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UserError(f'{path}: `data` must be a folder path in quotes, e.g. data = "DIR"')
    folder = Path(value).expanduser()
    return folder if folder.is_absolute() else (path.parent / folder)


def _checked(folder: Path, how: str, detail: str) -> DataDir:
    """``folder`` as a :class:`DataDir` if it is an existing directory, else a UserError."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        problem = "does not exist"
    elif not folder.is_dir():
        problem = "is not a folder"
    else:
        return DataDir(folder.resolve(), how, detail)
    raise UserError(f"observed data folder {folder} (from {detail}) {problem}. {_HOW_TO}")


def resolve_data_dir(explicit: str | Path | None = None) -> DataDir:
    """The data folder and which setting chose it (order (a)-(d) of the module doc).

    Raises :class:`UserError` (exit 2) when the chosen folder does not exist or is not a
    folder, or when nothing names one; the message lists where it looked.
    """
    if explicit is not None and str(explicit) != "":
        return _checked(Path(explicit), "explicit", "--data")
    env = os.environ.get(ENV_VAR, "")
    if env.strip():
        return _checked(Path(env), "env", f"the environment variable {ENV_VAR}")
    for path in config_files():
        folder = _from_config(path)
        if folder is not None:
            return _checked(folder, "config", f"`data` in {path}")
    default = default_data_dir()
    if default.is_dir():
        return DataDir(default, "default", "the default ../shared/validation")
    looked = ", ".join(str(p) for p in config_files())
    raise UserError(
        f"no observed data folder: no --data, {ENV_VAR} is not set, no `data` entry in "
        f"{looked}, and the default {default} does not exist. {_HOW_TO}"
    )


def data_dir(explicit: str | Path | None = None) -> Path:
    """The data folder's absolute path (see :func:`resolve_data_dir`)."""
    return resolve_data_dir(explicit).path


def describe_data_dir(explicit: str | Path | None = None) -> str:
    """Which folder is used and which setting chose it, in one line."""
    return resolve_data_dir(explicit).describe()
