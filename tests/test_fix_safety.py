"""`fix`, `lock`, `install` never lose a byte, never write outside the work tree, and fail in one sentence.

Where permissions matter the command runs as `nobody` (the suite may run as root, whom permissions
do not stop): `setpriv` drops to nobody, keeping only CAP_DAC_READ_SEARCH so the interpreter stays
readable; every write obeys the file modes."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DjangoProject, clean_env, git, run

from migguard import fixing, resolve
from migguard.project import load_worktree
from test_fix import COUNTRY, DISCIPLINE, MIGRATIONS, rebase_feature_by_hand

NOBODY = 65534
COUNTRY_FILE = MIGRATIONS / "0003_person_country.py"
SHOP = """from django.db import migrations


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('api', '0003_person_country'),
    ]

    operations = [
    ]
"""


def migguard(cwd: Path, *args: str, nobody: bool = False) -> tuple[int, str]:
    """Run migguard (as nobody when asked); no traceback, ever."""
    command = [sys.executable, "-m", "migguard", *args]
    env = clean_env()
    if nobody and os.geteuid() == 0:
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                   "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", *command]
        env.update(HOME=str(cwd), GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="safe.directory", GIT_CONFIG_VALUE_0="*")
        owned(cwd, NOBODY)
    try:
        done = run(command, cwd, check=False, env=env)
    finally:
        if nobody and os.geteuid() == 0:
            owned(cwd, 0)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout + done.stderr


def owned(root: Path, uid: int) -> None:
    for directory, dirnames, filenames in os.walk(root):
        for name in [directory, *(os.path.join(directory, n) for n in dirnames + filenames)]:
            os.lchown(name, uid, uid)


def tree(root: Path) -> dict[str, bytes | str]:
    """Every file of the work tree (symlinks as their target), `.git` left out."""
    found: dict[str, bytes | str] = {}
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = Path(directory) / name
            key = str(path.relative_to(root))
            found[key] = f"-> {os.readlink(path)}" if path.is_symlink() else path.read_bytes()
    return found


def staged(root: Path) -> str:
    return git(root, "diff", "--cached", "--name-only").stdout


@pytest.fixture(scope="session")
def rebased_template(seed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """feature (0003_person_country) with main (0003_person_discipline) merged in, once per session."""
    root = tmp_path_factory.mktemp("rebased") / "project"
    shutil.copytree(seed_template, root, symlinks=True)
    rebase_feature_by_hand(DjangoProject.open(root), [COUNTRY], [DISCIPLINE])
    return root


@pytest.fixture
def reachable() -> Iterator[Path]:
    """A folder nobody can reach: git refuses a repository below a folder its user cannot search."""
    folder = Path(tempfile.mkdtemp(prefix="migguard-safety-"))
    folder.chmod(0o755)
    yield folder
    owned(folder, os.geteuid())
    for directory, _, _ in os.walk(folder):
        os.chmod(directory, 0o755)
    shutil.rmtree(folder)


@pytest.fixture
def rebased(rebased_template: Path, reachable: Path) -> Path:
    root = reachable / "project"
    shutil.copytree(rebased_template, root, symlinks=True)
    return root


def add_shop(root: Path, text: str = SHOP, commit: bool = True) -> Path:
    """App `shop` whose first migration depends on the feature's migration."""
    (root / "shop/migrations").mkdir(parents=True)
    (root / "shop/__init__.py").touch()
    (root / "shop/migrations/__init__.py").touch()
    path = root / "shop/migrations/0001_initial.py"
    path.write_text(text)
    (root / "shop/migrations/max_migration.txt").write_text("0001_initial\n")
    if commit:
        git(root, "add", "-A")
        git(root, "commit", "-qm", "shop")
    return path


# 1. A failed write loses nothing, and restore carries on past what it cannot write.

def test_a_failed_renumber_write_leaves_every_file_and_says_why(rebased: Path) -> None:
    shop = add_shop(rebased)
    shop.chmod(0o444)
    before = tree(rebased)
    status, out = migguard(rebased, "fix", "--strategy", "renumber", "--onto", "main", nobody=True)
    assert status == 1, out
    assert out.splitlines()[-1] == ("not resolved, every file restored: "
                                    "could not write shop/migrations/0001_initial.py: permission denied")
    assert tree(rebased) == before
    assert staged(rebased) == ""


def test_restore_carries_on_past_a_file_it_cannot_write_and_names_where_its_bytes_are(rebased: Path) -> None:
    locked = rebased / "locked"
    locked.mkdir()
    script = ("import json, sys; from migguard import resolve\n"
              "backup = {'locked/gone.py': b'precious\\n', 'api/migrations/0002_prev.py': b'old bytes\\n'}\n"
              "print(json.dumps(resolve.restore(sys.argv[1], backup)))\n")
    (rebased / "api/migrations/0002_prev.py").write_text("changed\n")
    owned(rebased, NOBODY)
    locked.chmod(0o555)
    command = [sys.executable, "-c", script, str(rebased)]
    if os.geteuid() == 0:
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                   "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", *command]
    done = run(command, rebased, env=clean_env(TMPDIR=str(rebased.parent)))
    (unrestored,) = __import__("json").loads(done.stdout)
    assert (rebased / "api/migrations/0002_prev.py").read_bytes() == b"old bytes\n"
    assert unrestored.startswith("locked/gone.py (permission denied; its bytes are saved in ")
    saved = Path(unrestored.split("saved in ")[1].rstrip(")"))
    assert saved.read_bytes() == b"precious\n"
    owned(rebased, 0)


# 2. Never through a symlink that leaves the work tree.

def test_a_lock_file_symlinked_outside_is_refused_by_lock_install_and_the_pre_commit_hook(seed: DjangoProject) -> None:
    root = seed.root
    victim = root.parent / "victim.txt"
    victim.write_text("victim\n")
    status, out = migguard(root, "install")
    assert status == 0, out
    git(root, "add", "-A")
    git(root, "commit", "-qm", "install")
    lock = root / MIGRATIONS / "max_migration.txt"
    lock.unlink()
    lock.symlink_to("../../../victim.txt")
    refusal = (f"refusing to write api/migrations/max_migration.txt: it is a symlink to {victim}, "
               f"outside {root.resolve()}.")
    status, out = migguard(root, "lock")
    assert (status, out) == (1, f"migguard: {refusal} Nothing was written.\n")
    status, out = migguard(root, "install")
    assert (status, out) == (2, f"migguard: {refusal} Nothing was installed.\n")
    (root / "api/migrations/0003_extra.py").write_text(
        "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
        "    dependencies = [('api', '0002_prev')]\n    operations = []\n")
    git(root, "add", "-A")
    done = git(root, "commit", "-qm", "extra")
    assert f"migguard: pre-commit: {refusal} Nothing was written." in done.stderr
    assert victim.read_text() == "victim\n"


def test_a_dangling_symlink_at_the_merge_migrations_name_is_never_followed(rebased: Path) -> None:
    outside = rebased.parent / "created-outside.py"
    name = MIGRATIONS / "0004_merge_0003_person_country_0003_person_discipline.py"
    (rebased / name).symlink_to(outside)
    status, out = migguard(rebased, "fix")
    assert status == 1
    assert out.startswith(f"api: not resolved: {name} is a dangling symlink (to {outside})")
    assert not outside.exists()
    (rebased / name).unlink()
    (rebased / name).symlink_to(rebased / "created-inside.py")
    assert migguard(rebased, "fix")[0] == 1
    assert not (rebased / "created-inside.py").exists()


def test_a_symlinked_migration_outside_the_work_tree_is_not_rewritten(rebased: Path) -> None:
    shop = add_shop(rebased)
    outside = rebased.parent / "shop_0001.py"
    shutil.move(shop, outside)
    shop.symlink_to(outside)
    before = tree(rebased)
    status, out = migguard(rebased, "fix", "--strategy", "renumber", "--onto", "main")
    assert (status, out.splitlines()[0]) == (0, (
        f"api: not renumbered: refusing to write shop/migrations/0001_initial.py: it is a symlink to {outside}, "
        f"outside {rebased.resolve()}; writing a merge migration instead"))
    assert outside.read_text() == SHOP
    assert {k: v for k, v in tree(rebased).items() if k in before} == before


def test_install_never_appends_to_a_gitattributes_outside(seed: DjangoProject) -> None:
    victim = seed.root.parent / "attributes.txt"
    victim.write_text("outside\n")
    (seed.root / ".gitattributes").symlink_to(victim)
    status, out = migguard(seed.root, "install")
    assert status == 2
    assert out == (f"migguard: refusing to write .gitattributes: it is a symlink to {victim}, outside "
                   f"{seed.root.resolve()}. Nothing was installed.\n")
    assert victim.read_text() == "outside\n"
    assert not (seed.root / ".git/hooks/pre-commit").exists()


def test_husky_scripts_symlinked_outside_are_never_written(seed: DjangoProject) -> None:
    victim = seed.root.parent / "husky-victim.sh"
    victim.write_text("#!/bin/sh\necho mine\n")
    (seed.root / ".husky/_").mkdir(parents=True)
    (seed.root / ".husky/pre-commit").symlink_to(victim)
    git(seed.root, "config", "core.hooksPath", ".husky/_")
    status, out = migguard(seed.root, "install")
    assert status == 2
    assert (f"refusing to write .husky/pre-commit: it is a symlink to {victim}, outside {seed.root.resolve()}"
            in out)
    assert victim.read_text() == "#!/bin/sh\necho mine\n"


# 3. A lock file name is never a module's.

@pytest.mark.parametrize("name", ["0001_initial.py", "__init__.py", ".."])
def test_a_lock_file_named_like_a_module_or_a_directory_is_a_configuration_error(seed: DjangoProject, name: str) -> None:
    (seed.root / "pyproject.toml").write_text(f'[tool.migguard]\nlockfile = "{name}"\n')
    before = tree(seed.root)
    status, out = migguard(seed.root, "lock")
    assert status == 2
    assert out.startswith("migguard: [tool.migguard] in pyproject.toml: lockfile must ")
    assert len(out.splitlines()) == 1
    assert tree(seed.root) == before


# 4. What upstream's commit holds is never renamed.

def test_a_typo_in_the_work_trees_copy_of_upstreams_leaf_never_renames_upstreams_migrations(rebased: Path) -> None:
    discipline = rebased / MIGRATIONS / "0003_person_discipline.py"
    discipline.write_text(discipline.read_text().replace("('api', '0002_prev')", "('apii', '0002_prev')"))
    before = tree(rebased)
    upstream = fixing.upstream_leaves(str(rebased), "main")
    plan = resolve.plan_renumber(load_worktree(str(rebased), full=True), "api", upstream["api"],
                                 upstream_names=upstream.names["api"])
    assert plan.renames == [("0003_person_country", "0004_person_country")]
    status, out = migguard(rebased, "fix", "--strategy", "renumber", "--onto", "main")
    assert (status, out) == (1, "not resolved (api): app 'api' would still have 2 leaves (0002_prev, 0004_person_country); "
                                "nothing was changed\n")
    assert tree(rebased) == before


# 5. Bytes that are not the fix's stay.

def test_a_byte_order_mark_and_cr_only_line_ends_survive_a_renumber(rebased: Path) -> None:
    country = rebased / COUNTRY_FILE
    text = country.read_bytes()
    country.write_bytes(b"\xef\xbb\xbf" + text.replace(b"\n", b"\r"))
    git(rebased, "commit", "-qam", "bom and CR")
    status, out = migguard(rebased, "fix", "--strategy", "renumber", "--onto", "main")
    assert status == 0, out
    expected = b"\xef\xbb\xbf" + text.replace(b"'0002_prev'", b"'0003_person_discipline'").replace(b"\n", b"\r")
    assert (rebased / MIGRATIONS / "0004_person_country.py").read_bytes() == expected


def test_an_appended_dependency_follows_the_lists_layout(rebased: Path) -> None:
    add_shop(rebased, SHOP.replace("('api', '0003_person_country')", "('api', '0002_prev')"))
    country = rebased / COUNTRY_FILE
    country.write_text(country.read_text().replace("('api', '0002_prev')", "('shop', '0001_initial')"))
    git(rebased, "commit", "-qam", "country depends on shop only")
    status, out = migguard(rebased, "fix", "--strategy", "renumber", "--onto", "main")
    assert status == 0, out
    assert ("    dependencies = [\n        ('shop', '0001_initial'),\n        ('api', '0003_person_discipline'),\n    ]\n"
            in (rebased / MIGRATIONS / "0004_person_country.py").read_text())


def test_install_and_uninstall_keep_a_crlf_gitattributes_crlf(seed: DjangoProject) -> None:
    attributes = seed.root / ".gitattributes"
    attributes.write_bytes(b"*.txt text\r\n*.bin binary\r\n")
    assert migguard(seed.root, "install")[0] == 0
    assert attributes.read_bytes() == b"*.txt text\r\n*.bin binary\r\n**/max_migration.txt merge=migguard\r\n"
    assert migguard(seed.root, "uninstall")[0] == 0
    assert attributes.read_bytes() == b"*.txt text\r\n*.bin binary\r\n"


# 6. fix never says done when nothing is staged; two fixes never write the same file.

def test_a_locked_index_stops_fix_before_it_writes(rebased: Path) -> None:
    (rebased / ".git/index.lock").touch()
    before = tree(rebased)
    status, out = migguard(rebased, "fix")
    assert status == 1
    assert out.splitlines()[-1] == (f"not resolved, every file restored: git's index is locked "
                                    f"({rebased.resolve()}/.git/index.lock exists: another git command is running, "
                                    f"or one crashed and left it); nothing was changed")
    assert tree(rebased) == before


def test_a_read_only_git_directory_stops_fix_and_changes_nothing(rebased: Path) -> None:
    before = tree(rebased)
    for directory, _, _ in os.walk(rebased / ".git"):
        os.chmod(directory, 0o555)
    try:
        status, out = migguard(rebased, "fix", nobody=True)
    finally:
        for directory, _, _ in os.walk(rebased / ".git"):
            os.chmod(directory, 0o755)
    assert status == 1
    assert out.splitlines()[-1] == ("not resolved, every file restored: could not take migguard's lock in git's "
                                    "directory (permission denied); nothing was changed")
    assert tree(rebased) == before


def test_an_untracked_migration_is_renamed_and_staged(rebased: Path) -> None:
    git(rebased, "rm", "-q", "--cached", str(COUNTRY_FILE))
    git(rebased, "commit", "-qm", "country untracked")
    status, out = migguard(rebased, "fix", "--strategy", "renumber", "--onto", "main")
    assert status == 0, out
    assert staged(rebased).split() == [str(MIGRATIONS / "0004_person_country.py"), str(MIGRATIONS / "max_migration.txt")]


def test_two_fixes_at_once_never_both_write_the_merge_migration(rebased: Path) -> None:
    project = load_worktree(str(rebased), full=True)
    first, second = resolve.plan_merge(project, "api"), resolve.plan_merge(project, "api")  # both planned, none written
    assert resolve.apply(project, [first]).ok
    written = tree(rebased)
    applied = resolve.apply(project, [second])
    assert (applied.ok, applied.message) == (False, (
        "api/migrations/0004_merge_0003_person_country_0003_person_discipline.py exists already (another fix?); "
        "migguard never overwrites a migration"))
    assert tree(rebased) == written
    results: list[fixing.FixResult] = []
    barrier = threading.Barrier(2)

    def one_fix(root: str) -> None:
        barrier.wait()
        results.append(fixing.fix(root, "merge"))

    git(rebased, "reset", "-q", "--hard")
    git(rebased, "clean", "-qfd")
    threads = [threading.Thread(target=one_fix, args=(str(rebased),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(any("api: wrote" in line for line in result.lines) for result in results) == [False, True]


# 7. One sentence, never a traceback.

def test_a_non_utf8_lock_file_and_another_apps_non_utf8_migration_during_fix(rebased: Path) -> None:
    (rebased / MIGRATIONS / "max_migration.txt").write_bytes(b"0003_person_country\n\xff\xfe\n")
    add_shop(rebased, SHOP.replace("'0003_person_country'", "'0002_prev'").replace("initial = True", "# caf\xe9"),
             commit=False)
    (rebased / "shop/migrations/0001_initial.py").write_bytes(
        (rebased / "shop/migrations/0001_initial.py").read_text().encode("latin-1"))
    status, out = migguard(rebased, "fix", "--dry-run")
    assert status == 0, out
    assert "-0003_person_country\n-\ufffd\ufffd\n+0004_merge_0003_person_country_0003_person_discipline\n" in out
    status, out = migguard(rebased, "fix", "--strategy", "renumber", "--onto", "main")
    assert status == 0, out
    (rebased / "shop/migrations/0001_initial.py").write_bytes(b"# \xe9 ('api', '0004_person_country')\n")
    status, out = migguard(rebased, "fix", "--strategy", "renumber", "--onto", "main", "--dry-run")
    assert status == 0


def test_a_non_utf8_migration_that_mentions_a_moved_one_blocks_only_the_renumber(rebased: Path) -> None:
    add_shop(rebased, SHOP.replace("initial = True", "# caf\xe9"), commit=False)
    shop = rebased / "shop/migrations/0001_initial.py"
    shop.write_bytes(shop.read_text().encode("latin-1"))
    for extra in (("--dry-run",), ()):
        status, out = migguard(rebased, "fix", "--strategy", "renumber", "--onto", "main", *extra)
        assert status == 0, out
        assert out.splitlines()[0] == ("api: not renumbered: shop/migrations/0001_initial.py is not UTF-8 text, so "
                                       "migguard cannot follow the renames into it; writing a merge migration instead")


def test_install_status_uninstall_with_a_non_utf8_gitattributes_and_a_read_only_git(seed: DjangoProject,
                                                                                    reachable: Path) -> None:
    seed = DjangoProject.open(Path(shutil.copytree(seed.root, reachable / "project", symlinks=True)))
    attributes = seed.root / ".gitattributes"
    attributes.write_bytes(b"*.txt text # caf\xe9\n")
    assert migguard(seed.root, "install")[0] == 0
    status, out = migguard(seed.root, "status")
    assert (status, out.splitlines()[-1]) == (0, ".gitattributes: routes lock files to migguard")
    before = {p: p.read_bytes() for p in (seed.root / ".git/hooks").iterdir()}
    (seed.root / ".git").chmod(0o555)
    try:
        status, out = migguard(seed.root, "uninstall", nobody=True)
    finally:
        (seed.root / ".git").chmod(0o755)
    assert (status, out) == (2, f"migguard: cannot uninstall: {seed.root.resolve()}/.git is read-only; nothing was changed.\n")
    assert {p: p.read_bytes() for p in (seed.root / ".git/hooks").iterdir()} == before
    assert migguard(seed.root, "uninstall")[0] == 0
    assert attributes.read_bytes() == b"*.txt text # caf\xe9\n"
