"""`[tool.migguard]` in pyproject.toml or `[migguard]` in setup.cfg; defaults need no file."""
from __future__ import annotations

import os
from typing import Callable, NamedTuple

STRATEGIES = ("merge", "renumber")


class ConfigError(Exception):
    """The configuration cannot be used; the message is one sentence."""


class Config(NamedTuple):
    merge_strategy: str = "merge"
    rebase_strategy: str = "renumber"
    apps: tuple[tuple[str, str], ...] = ()
    exclude: tuple[str, ...] = ()
    lockfile: str = "max_migration.txt"
    django_settings: str = ""

    def label_for(self, package_path: str) -> str | None:
        """The configured label of a migration package (app path or the package itself)."""
        for label, path in self.apps:
            path = path.strip("/")
            if package_path == path or package_path.rsplit("/", 1)[0] == path:
                return label
        return None


def load_directory(root: str) -> Config:
    """The configuration of the work tree at `root`."""
    def read_text(name: str) -> str | None:
        try:
            with open(os.path.join(root, name), encoding="utf-8") as handle:
                return handle.read()
        except (OSError, UnicodeDecodeError):
            return None

    return load(read_text)


def load(read_text: Callable[[str], str | None]) -> Config:
    """Read the configuration through `read_text(relative_path)`, which returns None when absent."""
    raw: dict[str, object] = {}
    source = ""
    pyproject = read_text("pyproject.toml")
    if pyproject and "migguard" in pyproject:
        import tomllib

        try:
            raw = tomllib.loads(pyproject).get("tool", {}).get("migguard", {})
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"pyproject.toml is not valid TOML ({error}).") from None
        source = "[tool.migguard] in pyproject.toml"
    if not raw:
        setup_cfg = read_text("setup.cfg")
        if setup_cfg and "[migguard" in setup_cfg:
            raw = _from_setup_cfg(setup_cfg)
        source = "[migguard] in setup.cfg"
    return _validated(raw, source) if raw else Config()


def _from_setup_cfg(text: str) -> dict[str, object]:
    import configparser

    parser = configparser.ConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error as error:
        raise ConfigError(f"setup.cfg cannot be read ({error.message}).") from None
    if not parser.has_section("migguard"):
        return {}
    raw: dict[str, object] = dict(parser.items("migguard"))
    if "exclude" in raw:
        raw["exclude"] = [line.strip() for line in str(raw["exclude"]).splitlines() if line.strip()]
    if parser.has_section("migguard.apps"):
        raw["apps"] = dict(parser.items("migguard.apps"))
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
        if not isinstance(apps, dict) or not all(isinstance(v, str) for v in apps.values()):
            raise ConfigError(f"{source}: apps must map each app label to a path.")
        values["apps"] = tuple(sorted((str(k), v.strip("/")) for k, v in apps.items()))
    if "exclude" in raw:
        exclude = raw["exclude"]
        if isinstance(exclude, str):
            exclude = [exclude]
        if not isinstance(exclude, list) or not all(isinstance(v, str) for v in exclude):
            raise ConfigError(f"{source}: exclude must be a list of glob patterns.")
        values["exclude"] = tuple(exclude)
    if "lockfile" in raw:
        if not isinstance(raw["lockfile"], str) or "/" in raw["lockfile"]:
            raise ConfigError(f"{source}: lockfile must be a file name (or \"\" to turn lock files off).")
        values["lockfile"] = raw["lockfile"]
    if "django_settings" in raw:
        if not isinstance(raw["django_settings"], str):
            raise ConfigError(f"{source}: django_settings must be a dotted module name.")
        values["django_settings"] = raw["django_settings"]
    return Config(**values)  # type: ignore[arg-type]
