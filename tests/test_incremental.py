"""`check --rev` of a commit adding migrations to a clean parent, answered incrementally, says exactly what the
full check says with every cache removed (random commits on real git repositories), and is taken when it can."""
from __future__ import annotations

import os
import random
import shutil
import sys
from pathlib import Path

import pytest

from conftest import git, run
from migguard import incremental, results
from migguard.checking import check_revision
from migguard.report import as_json

APPS = ("alpha", "beta", "gamma", "delta")


def migration(dependencies: list[str], replaces: str = "", run_before: str = "", swappable: bool = False) -> str:
    lines = ["from django.conf import settings", "from django.db import migrations", "",
             "", "class Migration(migrations.Migration):", "    dependencies = ["]
    if swappable:
        lines.append("        migrations.swappable_dependency(settings.AUTH_USER_MODEL),")
    lines += [f"        {dependency}," for dependency in dependencies]
    lines.append("    ]")
    if replaces:
        lines.append(f"    replaces = [{replaces}]")
    if run_before:
        lines.append(f"    run_before = [{run_before}]")
    lines.append("    operations = []")
    return "\n".join(lines) + "\n"


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def project(root: Path, lock: bool, swappable: bool) -> None:
    """Four apps (a squash in beta, gamma on alpha and on delta's `__latest__`), optionally a user model app
    named through the setting, lock files on or off."""
    config = ["[tool.migguard]"]
    if not lock:
        config.append('lockfile = ""')
    if swappable:
        config.append('auth_user_model = "users.User"')
    write(root, "pyproject.toml", "\n".join(config) + "\n")
    write(root, "README.md", "project\n")
    files = {
        "alpha/migrations/0001_initial.py": migration([]),
        "alpha/migrations/0002_more.py": migration(['("alpha", "0001_initial")']),
        "beta/migrations/0001_initial.py": migration([]),
        "beta/migrations/0002_more.py": migration(['("beta", "0001_initial")']),
        "beta/migrations/0001_squashed_0002_more.py": migration([], replaces='("beta", "0001_initial"), ("beta", "0002_more")'),
        "beta/migrations/0003_after.py": migration(['("beta", "0002_more")']),
        "gamma/migrations/0001_initial.py": migration(['("alpha", "0001_initial")']),
        "gamma/migrations/0002_more.py": migration(['("gamma", "0001_initial")', '("delta", "__latest__")']),
        "delta/migrations/0001_initial.py": migration([]),
    }
    leaves = {"alpha": "0002_more", "beta": "0003_after", "gamma": "0002_more", "delta": "0001_initial"}
    if swappable:
        files["users/migrations/0001_initial.py"] = migration([])
        files["gamma/migrations/0003_user.py"] = migration(['("gamma", "0002_more")'], swappable=True)
        leaves["users"] = "0001_initial"
        leaves["gamma"] = "0003_user"
    for path, text in files.items():
        write(root, path, text)
    for app, leaf in leaves.items():
        write(root, f"{app}/__init__.py", "")
        write(root, f"{app}/migrations/__init__.py", "")
        if lock:
            write(root, f"{app}/migrations/max_migration.txt", f"{leaf}\n")


class Story:
    def __init__(self, root: Path, lock: bool, seed: int) -> None:
        self.root, self.lock, self.random, self.count = root, lock, random.Random(seed), 0

    def name(self) -> str:
        self.count += 1
        return f"{9000 + self.count:04d}_n{self.count}"

    def add(self, leaves: dict[str, str], valid_only: bool) -> tuple[str, bool]:
        """One change of the work tree; whether it is the common, certainly clean kind (one migration on its
        app's leaf, lock file kept in step), and which app it touched."""
        pick = self.random
        app = pick.choice(sorted(leaves))
        leaf = leaves[app]
        folder = f"{app}/migrations"
        kind = "valid" if valid_only else pick.choice(
            ["valid"] * 6 + ["chain", "other_app", "non_leaf", "missing", "two_leaves", "cycle", "replaces",
                             "run_before", "latest", "first", "syntax", "edit", "delete", "wrong_lock", "no_lock",
                             "config", "apps_py", "docs", "new_app", "subfolder", "shadow", "swappable", "other_new",
                             "lock_only", "symlink", "pyvenv", "latest_cycle", "latest_cycle"])
        if kind == "latest_cycle" and {"delta", "gamma"} <= set(leaves):  # gamma names delta's `__latest__`
            app, leaf, folder = "delta", leaves["delta"], "delta/migrations"
        name = self.name()
        final = name
        if kind == "valid":
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")']))
        elif kind == "chain":
            second = self.name()
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")']))
            write(self.root, f"{folder}/{second}.py", migration([f'("{app}", "{name}")', f'("{app}", "{leaf}")']))
            final = second
        elif kind == "other_app":
            other = pick.choice(sorted(leaves))
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")', f'("{other}", "{leaves[other]}")']))
        elif kind == "non_leaf":
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "0001_initial")']))
        elif kind == "missing":
            target = pick.choice([app, pick.choice(sorted(leaves))])
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")', f'("{target}", "0999_nothing")']))
        elif kind == "two_leaves":
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")']))
            write(self.root, f"{folder}/{self.name()}.py", migration([f'("{app}", "{leaf}")']))
        elif kind == "cycle":
            second = self.name()
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")', f'("{app}", "{second}")']))
            write(self.root, f"{folder}/{second}.py", migration([f'("{app}", "{name}")']))
            final = second
        elif kind == "latest_cycle":
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")', f'("gamma", "{leaves.get("gamma")}")']))
        elif kind == "replaces":
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")'], replaces=f'("{app}", "{leaf}")'))
        elif kind == "run_before":
            other = pick.choice(sorted(leaves))
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")'],
                                                              run_before=f'("{other}", "{leaves[other]}")'))
        elif kind in ("latest", "first"):
            other = pick.choice(sorted(leaves))
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")', f'("{other}", "__{kind}__")']))
        elif kind == "swappable":
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")'], swappable=True))
        elif kind == "syntax":
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")']).replace("operations = []", "operations = [("))
        elif kind == "edit":
            path = self.root / folder / f"{leaf}.py"
            path.write_text(path.read_text().replace("operations = []", f"operations = []  # {name}"))
            final = leaf
        elif kind == "delete":
            (self.root / folder / f"{leaf}.py").unlink()
            final = leaf
        elif kind == "config":
            with open(self.root / "pyproject.toml", "a") as stream:
                has_version = "django_version" in (self.root / "pyproject.toml").read_text()
                stream.write(pick.choice(['django_version = "5.2"\n' if not has_version else "# another\n", "# a comment\n"]))
            final = leaf
        elif kind == "apps_py":
            write(self.root, f"{app}/apps.py", "from django.apps import AppConfig\n\n\nclass C(AppConfig):\n"
                                               f"    name = '{app}'\n    label = '{app}x'\n")
            final = leaf
        elif kind == "docs":
            write(self.root, f"docs/{name}.md", "text\n")
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")']))
        elif kind == "new_app":
            write(self.root, "extra/__init__.py", "")
            write(self.root, "extra/migrations/__init__.py", "")
            write(self.root, "extra/migrations/0001_initial.py", migration([f'("{app}", "{leaf}")']))
            final = leaf
        elif kind == "subfolder":
            write(self.root, f"{folder}/sub/{name}.py", migration([f'("{app}", "{leaf}")']))
            final = leaf
        elif kind == "shadow":
            other = pick.choice([label for label in sorted(leaves) if label != app])
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")', f'("{other}", "0001_initial")']))
        elif kind == "other_new":
            other = pick.choice([label for label in sorted(leaves) if label != app])
            second = self.name()
            write(self.root, f"{other}/migrations/{second}.py", migration([f'("{other}", "{leaves[other]}")']))
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")', f'("{other}", "{second}")']))
            if self.lock:
                write(self.root, f"{other}/migrations/max_migration.txt", f"{second}\n")
        elif kind == "lock_only":
            if self.lock:
                write(self.root, f"{folder}/max_migration.txt", f"{leaf}\n\n")
            final = leaf
        elif kind == "symlink":
            os.symlink(f"{leaf}.py", self.root / folder / f"{name}.py")
        elif kind == "pyvenv":
            write(self.root, f"{app}/pyvenv.cfg", "home = /usr\n")
            final = leaf
        if self.lock and kind not in ("no_lock", "lock_only"):
            write(self.root, f"{folder}/max_migration.txt", f"{final}\n" if kind != "wrong_lock" else f"{leaf}\n")
        if kind == "wrong_lock":
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")']))
        elif kind == "no_lock":
            write(self.root, f"{folder}/{name}.py", migration([f'("{app}", "{leaf}")']))
        return app, kind == "valid"


def full_check(root: Path, rev: str) -> dict:
    """`check --rev` with every cache of migguard out of the way."""
    common = root / ".git" / "migguard"
    aside = root / ".git" / "migguard-aside"
    if common.exists():
        common.rename(aside)
    try:
        return check_revision(root, rev, under="")
    finally:
        shutil.rmtree(common, ignore_errors=True)
        if aside.exists():
            aside.rename(common)


@pytest.mark.parametrize(("lock", "swappable"), [(True, False), (False, True), (True, True), (False, False)])
def test_incremental_check_equals_the_full_check(tmp_path: Path, lock: bool, swappable: bool) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    project(root, lock, swappable)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    base = git(root, "rev-parse", "HEAD").stdout.strip()
    first = check_revision(root, base, under="")
    assert first["ok"], first
    story = Story(root, lock, seed=1400 + 2 * lock + swappable)
    leaves = {app["app"]: app["leaves"][0] for app in first["apps"]}
    paths = {app["app"]: app["path"] for app in first["apps"]}
    taken_in_common_case = compared = 0
    for case in range(50):
        common_case = False
        for _ in range(1 if case % 4 == 0 else story.random.choice([1, 1, 1, 2, 3])):
            app, valid = story.add(leaves, valid_only=case % 4 == 0)
            common_case = valid and paths[app] == f"{app}/migrations"  # (not so once apps.py renamed the label)
        git(root, "add", "-A")
        git(root, "commit", "-q", "--allow-empty", "-m", f"case {case}")
        commit = git(root, "rev-parse", "HEAD").stdout.strip()
        parent_tree = git(root, "rev-parse", f"{commit}^1^{{tree}}").stdout.strip()
        parent_facts = results.load(root / ".git", incremental.facts_key(parent_tree), "")
        parent_known = results.load(root / ".git", parent_tree, "") is not None and parent_facts is not None \
            and app not in parent_facts["pinned"] and not parent_facts["unresolved"]  # (named through __latest__,
        # __first__ or the user model setting, or the setting cannot be resolved)
        before = incremental.taken
        quick = check_revision(root, commit, under="")
        went_fast = incremental.taken > before
        full = full_check(root, commit)
        assert as_json(quick) == as_json(full), (case, commit)
        compared += 1
        if common_case and case % 4 == 0 and parent_known:  # (the parent's facts may have left the cache)
            assert went_fast, (case, parent_tree, full)
            taken_in_common_case += 1
        if full["ok"] and not full["warnings"] and story.random.random() < 0.6:
            base = commit
            leaves = {app["app"]: app["leaves"][0] for app in full["apps"]}
            paths = {app["app"]: app["path"] for app in full["apps"]}
        else:
            git(root, "reset", "-q", "--hard", base)
            git(root, "clean", "-q", "-fdx")
    print("common cases answered incrementally:", taken_in_common_case)
    assert compared == 50 and taken_in_common_case >= 3 and incremental.taken >= taken_in_common_case


def answered_from_parent(root: Path) -> dict:
    """`check --rev HEAD` as the next hook gets it: from the cache, else following from a first-parent ancestor's
    cached result; failing when only the full check could answer."""
    from migguard.hooks.quick import head_result

    found = head_result(str(root), str(root / ".git"))
    assert found is not None
    return found[1]


def installed_repository(root: Path) -> Path:
    """The generated project (lock files on) committed, `migguard install` run and its files committed."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    project(root, lock=True, swappable=False)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    run([sys.executable, "-m", "migguard", "install"], root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "install")
    return root


def test_a_merge_bringing_a_migration_is_checked_incrementally_by_the_hook(tmp_path: Path) -> None:
    """A real `git merge` with migguard installed: the post-merge hook's `check --rev HEAD` is answered from
    the first parent's result (no result stored by content, which only the full check writes), and says
    what the full check says."""
    root = installed_repository(tmp_path / "repo")
    git(root, "checkout", "-q", "-b", "feature")
    write(root, "alpha/migrations/0003_new.py", migration(['("alpha", "0002_more")']))
    write(root, "alpha/migrations/max_migration.txt", "0003_new\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a migration")
    git(root, "checkout", "-q", "main")
    write(root, "docs/notes.md", "notes\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "docs")
    run([sys.executable, "-m", "migguard", "check", "--rev", "HEAD"], root)  # the parent, checked as a hook would
    folder = root / ".git" / "migguard" / "results"
    by_content = sorted(path.name for path in folder.iterdir() if ".content" in path.name or "-k-content" in path.name)
    merged = git(root, "merge", "--no-edit", "feature")
    assert "several leaf" not in merged.stdout + merged.stderr
    tree = git(root, "rev-parse", "HEAD^{tree}").stdout.strip()
    quick = results.load(root / ".git", tree, "")
    assert quick is not None and results.load(root / ".git", incremental.facts_key(tree), "") is not None
    assert sorted(path.name for path in folder.iterdir() if ".content" in path.name or "-k-content" in path.name) == by_content
    full = full_check(root, "HEAD")
    assert as_json(quick) == as_json(full)
    assert full["ok"] and [app["leaves"] for app in full["apps"] if app["app"] == "alpha"] == [["0003_new"]]


def test_a_commit_adding_a_migration_keeps_the_lock_file_in_step_from_heads_result(tmp_path: Path) -> None:
    """A real `git commit` of a new migration with migguard installed: the pre-commit hook writes and stages the
    lock file from HEAD's cached result and the added file alone (nothing stored by content, which only the
    full check writes), and the commit's cached result equals the full check's. Two leaves take the full path,
    which refuses nothing here but leaves the lock file alone."""
    root = installed_repository(tmp_path / "repo")
    run([sys.executable, "-m", "migguard", "check", "--rev", "HEAD"], root)  # HEAD, checked as a hook would
    folder = root / ".git" / "migguard" / "results"
    by_content = sorted(path.name for path in folder.iterdir() if "-k-content" in path.name)

    write(root, "alpha/migrations/0003_new.py", migration(['("alpha", "0002_more")']))
    git(root, "add", "alpha/migrations/0003_new.py")
    committed = git(root, "commit", "-q", "-m", "a migration")
    assert "alpha/migrations/max_migration.txt -> 0003_new" in committed.stdout + committed.stderr
    assert (root / "alpha/migrations/max_migration.txt").read_text() == "0003_new\n"
    assert git(root, "status", "--porcelain").stdout == ""
    assert git(root, "show", "HEAD:alpha/migrations/max_migration.txt").stdout == "0003_new\n"
    tree = git(root, "rev-parse", "HEAD^{tree}").stdout.strip()
    quick = results.load(root / ".git", tree, "")  # cached by the tree the hook computed for the index
    assert quick is not None and as_json(quick) == as_json(full_check(root, "HEAD"))
    assert sorted(path.name for path in folder.iterdir() if "-k-content" in path.name) == by_content

    write(root, "alpha/migrations/0004_a.py", migration(['("alpha", "0003_new")']))
    write(root, "alpha/migrations/0004_b.py", migration(['("alpha", "0003_new")']))
    git(root, "add", "-A")
    two = git(root, "commit", "-q", "-m", "two leaves", check=False)
    assert "max_migration.txt ->" not in two.stdout + two.stderr
    assert git(root, "show", ":alpha/migrations/max_migration.txt").stdout == "0003_new\n"


def test_commits_of_migrations_follow_from_what_install_and_the_previous_commit_cached(tmp_path: Path) -> None:
    """Commit after commit of a migration, each lock file is kept in step from what `migguard install` or the
    previous commit cached (no result stored by content, which only the full check writes), and each commit's
    cached result equals the full check's."""
    root = installed_repository(tmp_path / "repo")
    folder = root / ".git" / "migguard" / "results"
    for name, parent in (("0003_new", "0002_more"), ("0004_next", "0003_new")):
        by_content = sorted(path.name for path in folder.iterdir() if "-k-content" in path.name) \
            if folder.exists() else []
        write(root, f"alpha/migrations/{name}.py", migration([f'("alpha", "{parent}")']))
        git(root, "add", "-A")
        committed = git(root, "commit", "-q", "-m", name)
        assert f"alpha/migrations/max_migration.txt -> {name}" in committed.stdout + committed.stderr
        tree = git(root, "rev-parse", "HEAD^{tree}").stdout.strip()
        cached = results.load(root / ".git", tree, "")
        assert cached is not None and as_json(cached) == as_json(full_check(root, "HEAD"))
        assert sorted(path.name for path in folder.iterdir() if "-k-content" in path.name) == by_content, name
        Path(results.path_for(root / ".git", tree, "")).unlink()  # the next commit follows from its parent's
        assert as_json(answered_from_parent(root)) == as_json(full_check(root, "HEAD"))
