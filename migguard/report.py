"""The result of `check` as plain values, and its text, JSON and GitHub forms."""
from __future__ import annotations

TYPE_CHECKING = False  # typing and json cost a repeated `check --rev` more than its answer
if TYPE_CHECKING:
    from typing import Any

    from migguard.project import Project


def check_result(project: Project) -> dict[str, Any]:
    """`{"version", "ok", "apps", "conflicts", "errors", "warnings"}`: everything `check` says, as plain values."""
    return check_results([project])


def check_results(projects: list[Project]) -> dict[str, Any]:
    """One result for every project of the repository (several in a monorepo, each its own label namespace)."""
    from migguard.results import SCHEMA_VERSION
    from migguard.monorepo import qualified

    apps: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    conflicts: list[str] = []
    for project in projects:
        found = project_result(project)
        apps += found["apps"]
        errors += found["errors"]
        warnings += found["warnings"]
        conflicts += [qualified(project.scope, label) for label in found["conflicts"]]
    result = {"version": SCHEMA_VERSION, "ok": not errors, "apps": apps, "conflicts": sorted(conflicts),
              "errors": errors, "warnings": warnings}
    if projects and projects[0].config.projects:
        result["projects"] = [project.scope for project in projects]
    decided = {project.graph.installed_django for project in projects} - {None}
    if decided:  # squashes of squashes load as the installed Django does: a cached answer holds for that Django only
        result["django"] = decided.pop()
    return result


def project_result(project: Project) -> dict[str, Any]:
    """The apps, conflicts (labels), errors and warnings of one project."""
    apps, errors = [], []
    conflicts = project.conflicts()
    for label in sorted(project.apps):
        app = project.apps[label]
        leaves = project.leaves(label)
        lock = project.lock_state(label)
        apps.append({"app": label, "project": project.scope, "path": app.path, "leaves": leaves, "lock": lock.state})
        broken = any(issue.fatal and issue.path.startswith(f"{app.path}/".lstrip("/")) for issue in project.issues)
        if label in conflicts and not broken:  # a broken file (markers, a missing parent) is the problem, not the leaves
            errors.append({
                "path": project.file_of((label, leaves[-1])), "line": 1,
                "message": f"app {label!r} has {len(leaves)} leaf migrations ({', '.join(leaves)}); "
                           f"run `migguard fix` to merge or renumber them",
            })
        elif not lock.ok:
            advice = "" if "migguard fix" in lock.detail else "; `migguard fix` rewrites it"
            errors.append({"path": project.lock_path(label), "line": lock.line,
                           "message": f"{project.lock_path(label)} {lock.detail}{advice}"})
    for issue in project.issues:
        target = errors if issue.fatal else None
        if target is not None:
            target.append({"path": issue.path, "line": issue.line, "message": issue.message})
    warnings = [{"path": i.path, "line": i.line, "message": i.message} for i in project.issues if not i.fatal]
    return {"apps": apps, "conflicts": sorted(conflicts), "errors": errors, "warnings": warnings}


def as_text(result: dict[str, Any]) -> str:
    lines = [f"error: {error['message']} ({error['path']}:{error['line']})" for error in result["errors"]]
    lines += [f"warning: {w['message']} ({w['path']}:{w['line']})" for w in result["warnings"]]
    count = len(result["apps"])
    apps = f"{count} app{'s' if count != 1 else ''}"
    if len(result.get("projects", ())) > 1:
        apps += f" in {len(result['projects'])} projects"
    if result["ok"]:
        lines.append(f"ok: {apps} with migrations, one leaf each, lock files in step.")
    else:
        lines.append(f"{len(result['errors'])} problem{'s' if len(result['errors']) != 1 else ''} in {apps}.")
    return "\n".join(lines)


def as_json(result: dict[str, Any]) -> str:
    import json

    return json.dumps(result, indent=2)


def as_github(result: dict[str, Any]) -> str:
    """Workflow commands: GitHub shows each as an annotation on the file and line."""
    def escape(value: str) -> str:
        return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(value: str) -> str:
        return escape(value).replace(":", "%3A").replace(",", "%2C")

    lines = [f"::error file={prop(e['path'])},line={e['line']}::{escape(e['message'])}" for e in result["errors"]]
    lines += [f"::warning file={prop(w['path'])},line={w['line']}::{escape(w['message'])}" for w in result["warnings"]]
    lines.append(as_text(result).splitlines()[-1])
    return "\n".join(lines)


FORMATS = {"text": as_text, "json": as_json, "github": as_github}
