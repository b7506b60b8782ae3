"""`[tool.migguard]` in pyproject.toml or `[migguard]` in setup.cfg; defaults need no file."""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import NamedTuple

STRATEGIES = ("merge", "renumber")


class ConfigError(Exception):
    """The configuration cannot be used; the message is one sentence."""


class Config(NamedTuple):
    merge_strategy: str = "merge"
    rebase_strategy: str = "renumber"
    apps: tuple[tuple[str, str], ...] = ()
    exclude: tuple[str, ...] = ()
    lockfile: str = "max_migration.txt"
    django_version: str = ""
    projects: tuple[str, ...] = ()
    django_settings: str = ""
    auth_user_model: str = ""  # settings.AUTH_USER_MODEL ("users.User"): resolves swappable_dependency statically

    def label_for(self, package_path: str) -> str | None:
        """The configured label of a migration package (app path or the package itself)."""
        for label, path in self.apps:
            path = path.strip("/")
            if package_path == path or package_path.rsplit("/", 1)[0] == path:
                return label
        return None


MAX_SIZE = 1 << 20


def read_regular_file(path: str, limit: int = MAX_SIZE) -> bytes | None:
    """A regular file's bytes (None when absent); never blocks on a FIFO or reads a device without end."""
    import stat

    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigError(f"{os.path.basename(path)} cannot be read ({error.strerror}).") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{os.path.basename(path)} is not a regular file; migguard reads its configuration only from one.")
        if info.st_size > limit:
            raise ConfigError(f"{os.path.basename(path)} is larger than {limit >> 20} MiB; migguard does not read it.")
        chunks, total = [], 0
        while chunk := os.read(descriptor, 1 << 16):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise ConfigError(f"{os.path.basename(path)} is larger than {limit >> 20} MiB; migguard does not read it.")
        return b"".join(chunks)
    except OSError as error:
        raise ConfigError(f"{os.path.basename(path)} cannot be read ({error.strerror}).") from None
    finally:
        os.close(descriptor)


def load_directory(root: str) -> Config:
    """The configuration of the work tree at `root`."""
    def read_text(name: str) -> str | None:
        data = read_regular_file(os.path.join(root, name))
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{name} is not UTF-8 text.") from None

    return load(read_text)


def load(read_text: Callable[[str], str | None]) -> Config:
    """Read the configuration through `read_text(relative_path)`, which returns None when absent."""
    raw: dict[str, object] = {}
    source = ""
    pyproject = read_text("pyproject.toml")
    if pyproject and "migguard" in pyproject:
        if sys.version_info >= (3, 11):
            import tomllib
        else:
            import tomli as tomllib

        try:
            tool = tomllib.loads(pyproject).get("tool", {})
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"pyproject.toml is not valid TOML ({error}).") from None
        if not isinstance(tool, dict):
            raise ConfigError("pyproject.toml: `tool` must be a table.")
        raw = tool.get("migguard", {})
        source = "[tool.migguard] in pyproject.toml"
        if not isinstance(raw, dict):
            raise ConfigError(f"{source} must be a table, not {type(raw).__name__} {raw!r}.")
    if not raw:
        setup_cfg = read_text("setup.cfg")
        if setup_cfg and "[migguard" in setup_cfg:
            raw = _from_setup_cfg(setup_cfg)
        source = "[migguard] in setup.cfg"
    return _validated(raw, source) if raw else Config()


def _from_setup_cfg(text: str) -> dict[str, object]:
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
        if not parser.has_section("migguard"):
            return {}
        raw: dict[str, object] = dict(parser.items("migguard"))
        apps_section = dict(parser.items("migguard.apps")) if parser.has_section("migguard.apps") else None
    except configparser.Error as error:
        message = str(getattr(error, "message", error)).splitlines()[0]
        raise ConfigError(f"setup.cfg cannot be read ({message}).") from None
    for key in ("exclude", "projects"):
        if key in raw:
            raw[key] = [line.strip() for line in str(raw[key]).splitlines() if line.strip()]
    if apps_section is not None:
        raw["apps"] = apps_section
    elif "apps" in raw:
        pairs = [line.split("=", 1) for line in str(raw["apps"]).splitlines() if "=" in line]
        raw["apps"] = {label.strip(): path.strip() for label, path in pairs}
    return raw


def _validated(raw: dict[str, object], source: str) -> Config:
    known = set(Config._fields)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{source} has unknown keys: {', '.join(unknown)}.")
    values: dict[str, object] = {}
    for key in ("merge_strategy", "rebase_strategy"):
        if key in raw:
            if raw[key] not in STRATEGIES:
                raise ConfigError(f"{source}: {key} must be one of {', '.join(STRATEGIES)}, not {raw[key]!r}.")
            values[key] = raw[key]
    if "apps" in raw:
        apps = raw["apps"]
        def paths(value: object) -> list[str] | None:
            if isinstance(value, str):
                return [value]
            return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None

        if not isinstance(apps, dict) or any(paths(v) is None for v in apps.values()):
            raise ConfigError(f"{source}: apps must map each app label to a path (or a list of paths, one per project).")
        values["apps"] = tuple(sorted((str(k), path.strip("/")) for k, v in apps.items() for path in paths(v) or ()))
    if "exclude" in raw:
        exclude = raw["exclude"]
        if isinstance(exclude, str):
            exclude = [exclude]
        if not isinstance(exclude, list) or not all(isinstance(v, str) for v in exclude):
            raise ConfigError(f"{source}: exclude must be a list of glob patterns.")
        values["exclude"] = tuple(exclude)
    if "projects" in raw:
        values["projects"] = _projects(raw["projects"], source)
    if "lockfile" in raw:
        problem = lockfile_problem(raw["lockfile"])
        if problem:
            raise ConfigError(f"{source}: lockfile {problem}.")
        values["lockfile"] = raw["lockfile"]
    if "django_settings" in raw:
        if not isinstance(raw["django_settings"], str):
            raise ConfigError(f"{source}: django_settings must be a dotted module name.")
        values["django_settings"] = raw["django_settings"]
    if "auth_user_model" in raw:
        model = raw["auth_user_model"]
        if not isinstance(model, str) or not re.fullmatch(r"[A-Za-z_]\w*\.[A-Za-z_]\w*", model.strip()):
            raise ConfigError(f"{source}: auth_user_model must be \"app_label.ModelName\" as in settings.AUTH_USER_MODEL, "
                              f"not {model!r}.")
        values["auth_user_model"] = model.strip()
    if "django_version" in raw:
        version = raw["django_version"]
        if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+(\.\d+)?", version.strip()):
            raise ConfigError(f"{source}: django_version must be a version string such as \"5.2\", not {version!r}.")
        values["django_version"] = version.strip()
    return Config(**values)  # type: ignore[arg-type]


MODULE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyw", ".pyd", ".so")


def lockfile_problem(name: object) -> str | None:
    """Why `name` cannot be a lock file's name (a plain file name beside the migrations, never a module), or None."""
    if not isinstance(name, str):
        return "must be a file name (or \"\" to turn lock files off)"
    if name == "":
        return None
    if name in (".", "..") or any(character in name for character in "/\\\0") or name != name.strip():
        return f"must be a plain file name (or \"\" to turn lock files off), not {name!r}"
    if name.lower().endswith(MODULE_SUFFIXES) or name == "__pycache__":
        return f"must not be a Python module's name ({name!r} would overwrite a migration or the package)"
    return None


def _projects(value: object, source: str) -> tuple[str, ...]:
    """Project folders, relative to the repository's top: each holds its own Django project's apps."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: projects must be a list of folders (one per Django project).")
    folders = []
    for folder in value:
        cleaned = folder.strip().strip("/")
        cleaned = "" if cleaned in (".", "./") else cleaned.removeprefix("./")
        if ".." in cleaned.split("/"):
            raise ConfigError(f"{source}: projects must be folders inside the repository, not {folder!r}.")
        folders.append(cleaned)
    if len(set(folders)) != len(folders):
        raise ConfigError(f"{source}: projects names a folder twice.")
    return tuple(sorted(folders))
