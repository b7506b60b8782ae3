"""Several Django projects in one repository: `projects` in [tool.migguard] names their folders,
and the apps of each folder form a label namespace of their own (two projects may both have `users`)."""
from __future__ import annotations

from collections.abc import Iterable

from migguard.discovery import Package


def inside(path: str, folder: str) -> bool:
    """Whether repository path `path` is `folder` or below it ("" is the whole repository)."""
    folder = folder.strip("/")
    return not folder or path == folder or path.startswith(folder + "/")


def owner(path: str, projects: Iterable[str]) -> str | None:
    """The project folder holding `path`: the deepest one that contains it, None when none does."""
    holding = [folder for folder in projects if inside(path, folder)]
    return max(holding, key=len) if holding else None


def scopes(projects: tuple[str, ...], under: str = "") -> list[str]:
    """The project folders to read when looking below `under`: "" alone when no project is named."""
    if not projects:
        return [""]
    under = under.strip("/")
    found = [folder for folder in projects if inside(folder, under)]
    holder = owner(under, projects)
    if holder is not None and holder not in found:
        found.append(holder)
    return sorted(found)


def select(packages: list[Package], projects: tuple[str, ...], scope: str) -> list[Package]:
    """The packages of project `scope` ("" with no projects named: every package)."""
    if not projects:
        return list(packages)
    return [package for package in packages if owner(package.path, projects) == scope]


def outside(packages: list[Package], projects: tuple[str, ...]) -> list[str]:
    """Paths of migration packages that belong to no named project (they are not read)."""
    if not projects:
        return []
    return sorted(package.path for package in packages if owner(package.path, projects) is None)


def qualified(scope: str, label: str) -> str:
    """How output names an app: its label, prefixed with its project's folder in a monorepo."""
    return f"{scope}:{label}" if scope else label
