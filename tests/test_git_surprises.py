"""Issue 11: the git integration leaves edits, signatures, history and messages as a careful person would.

Every test drives real git with migguard installed; migrations are Django's own."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import DjangoProject, clean_env, diverge, git, person_models, run

from test_fix import CITY, COUNTRY, DISCIPLINE, MIGRATIONS, TEAM, assert_django_happy
from test_git_flows import (BASE, assert_bisectable, assert_clean_and_one_leaf, head_files, install, migguard,
                            migguard_lines)
from test_git_flows import repo  # noqa: F401  (a fixture the tests take as a parameter)

SHOP = """
from django.db import models


class Item(models.Model):
{top}    name = models.CharField(max_length=9)
{extra}"""


def shop_models(*fields: str, top: tuple[str, ...] = ()) -> str:
    return SHOP.format(top="".join(f"    {field}\n" for field in top), extra="".join(f"    {field}\n" for field in fields))


def with_origin(project: DjangoProject, tmp_path: Path) -> Path:
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(project.root, "remote", "add", "origin", str(bare))
    git(project.root, "push", "-q", "origin", "main")
    return bare


# 2. History stays bisectable -------------------------------------------------------------------

def test_rebase_folds_the_renumbering_into_the_commits_that_introduced_each_migration(repo: DjangoProject) -> None:
    diverge(repo, [COUNTRY, CITY], [DISCIPLINE, TEAM])
    git(repo.root, "checkout", "-q", "feature")
    before = git(repo.root, "rev-parse", "HEAD").stdout.strip()
    subjects = git(repo.root, "log", "--format=%s%n%an %ad", "main..feature").stdout
    done = git(repo.root, "rebase", "main")
    assert git(repo.root, "log", "--format=%s%n%an %ad", "main..HEAD").stdout == subjects
    assert git(repo.root, "rev-parse", "ORIG_HEAD").stdout.strip() == before
    introduced = git(repo.root, "show", "--name-status", "--format=", "HEAD~1").stdout
    assert "A\tapi/migrations/0005_person_country.py" in introduced
    assert "max_migration.txt" in introduced
    assert git(repo.root, "show", "HEAD~1:api/migrations/max_migration.txt").stdout == "0005_person_country\n"
    reflog = git(repo.root, "reflog", "-3", "--format=%gs").stdout.splitlines()
    assert reflog[0] == "migguard: renumbered migrations folded into the rebased commits"
    assert reflog[1].startswith("rebase (finish)")
    assert any("folded into the rebased commits" in line for line in migguard_lines(done))
    assert_bisectable(repo, "main")
    assert_clean_and_one_leaf(repo)


def test_apply_backend_and_a_branch_made_before_install_fold_too(seed: DjangoProject) -> None:
    diverge(seed, [COUNTRY, CITY], [DISCIPLINE])
    install(seed)  # on main only: the lock file reaches the branch with the rebase
    git(seed.root, "checkout", "-q", "feature")
    done = git(seed.root, "rebase", "--apply", "main")
    assert any("folded into the rebased commits" in line for line in migguard_lines(done))
    assert git(seed.root, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/feature"
    assert head_files(seed)[-2:] == ["0004_person_country.py", "0005_person_city.py"]
    assert_bisectable(seed, "main")
    assert_clean_and_one_leaf(seed)


def test_pull_rebase_folds_too_and_history_loads_at_every_commit(repo: DjangoProject, tmp_path: Path) -> None:
    with_origin(repo, tmp_path)
    diverge(repo, [COUNTRY, CITY], [DISCIPLINE])
    git(repo.root, "push", "-q", "origin", "main")
    git(repo.root, "checkout", "-q", "feature")
    git(repo.root, "branch", "-q", "--set-upstream-to=origin/main")
    git(repo.root, "pull", "--rebase", "-q")
    assert head_files(repo)[-2:] == ["0004_person_country.py", "0005_person_city.py"]
    assert git(repo.root, "rev-list", "--count", "origin/main..HEAD").stdout.strip() == "2"
    assert_bisectable(repo, "origin/main")
    for sha in git(repo.root, "rev-list", "origin/main..HEAD").stdout.split():
        git(repo.root, "checkout", "-q", sha)
        assert_django_happy(repo)
    git(repo.root, "checkout", "-q", "feature")


# 1. Uncommitted work is never moved -------------------------------------------------------------

EDIT = "# my uncommitted note\n"


@pytest.mark.parametrize("command", [["rebase", "--autostash", "main"], ["pull", "--rebase", "--autostash", "-q"]])
def test_autostashed_edit_follows_the_renamed_migration(repo: DjangoProject, tmp_path: Path, command: list[str]) -> None:
    with_origin(repo, tmp_path)
    diverge(repo, [COUNTRY], [DISCIPLINE])
    git(repo.root, "push", "-q", "origin", "main")
    git(repo.root, "checkout", "-q", "feature")
    git(repo.root, "branch", "-q", "--set-upstream-to=origin/main")
    ours = repo.root / MIGRATIONS / "0003_person_country.py"
    ours.write_text(ours.read_text() + EDIT)
    teammate = git(repo.root, "show", "main:api/migrations/0003_person_discipline.py").stdout
    done = git(repo.root, *command)
    renamed = repo.root / MIGRATIONS / "0004_person_country.py"
    assert renamed.read_text().endswith(EDIT)
    assert "('api', '0003_person_discipline')" in renamed.read_text()
    assert (repo.root / MIGRATIONS / "0003_person_discipline.py").read_text() == teammate
    assert not ours.exists()
    assert git(repo.root, "status", "--porcelain").stdout == " M api/migrations/0004_person_country.py\n"
    assert any("your uncommitted edits follow the renamed migrations (api/migrations/0003_person_country.py -> "
               "0004_person_country.py)" in line for line in migguard_lines(done))
    assert git(repo.root, "stash", "list").stdout == ""
    assert_bisectable(repo, "main")


def test_an_autostashed_edit_that_cannot_follow_means_a_merge_migration(repo: DjangoProject) -> None:
    diverge(repo, [COUNTRY], [DISCIPLINE])
    git(repo.root, "checkout", "-q", "feature")
    ours = repo.root / MIGRATIONS / "0003_person_country.py"
    broken = ours.read_text().replace("    dependencies = [", "    dependencies = [[", 1)
    ours.write_text(broken)
    done = git(repo.root, "rebase", "--autostash", "main")
    lines = "\n".join(migguard_lines(done))
    assert "api: not renumbered: your uncommitted edit (stashed by --autostash) could not follow the rename" in lines
    assert ours.read_text() == broken
    merge = "0004_merge_0003_person_country_0003_person_discipline"
    assert f"{merge}.py" in head_files(repo)
    assert git(repo.root, "log", "-1", "--format=%s%n%n%b").stdout.startswith(
        f"Merge migrations after rebase onto {git(repo.root, 'rev-parse', '--short', 'main').stdout.strip()}\n\n"
        "api: not renumbered: your uncommitted edit")
    assert git(repo.root, "status", "--porcelain").stdout == " M api/migrations/0003_person_country.py\n"


# 4. Several apps at once -----------------------------------------------------------------------

def two_apps_depending(project: DjangoProject) -> None:
    """feature: api.0003_person_country, then shop.0002_item_owner depending on it; main: one migration each."""
    project.add_app("shop", shop_models())
    project.makemigrations("shop")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "shop")
    git(project.root, "checkout", "-q", "-b", "feature")
    project.models("api", person_models(BASE, top=(COUNTRY,)))
    project.makemigrations("api")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "feature: country")
    project.models("shop", shop_models(top=("owner = models.ForeignKey('api.Person', null=True, on_delete=models.SET_NULL)",)))
    project.makemigrations("shop", "--name", "item_owner")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "feature: owner")
    git(project.root, "checkout", "-q", "main")
    project.models("api", person_models(BASE, DISCIPLINE))
    project.models("shop", shop_models("colour = models.CharField(max_length=9, default='')"))
    project.makemigrations()
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "main: discipline and colour")


def test_two_apps_whose_branch_migrations_depend_on_each_other(repo: DjangoProject) -> None:
    two_apps_depending(repo)
    git(repo.root, "checkout", "-q", "feature")
    assert "('api', '0003_person_country')" in (repo.root / "shop/migrations/0002_item_owner.py").read_text()
    done = git(repo.root, "rebase", "main")
    lines = migguard_lines(done)
    assert any("api: renumbered after 0003_person_discipline: 0003_person_country -> 0004_person_country" in line for line in lines)
    assert any("shop: renumbered after 0002_item_colour: 0002_item_owner -> 0003_item_owner" in line for line in lines)
    owner = (repo.root / "shop/migrations/0003_item_owner.py").read_text()
    assert "('api', '0004_person_country')" in owner and "('shop', '0002_item_colour')" in owner
    assert_bisectable(repo, "main")
    assert_clean_and_one_leaf(repo)


def test_fix_dry_run_agrees_with_the_run(repo: DjangoProject) -> None:
    two_apps_depending(repo)
    git(repo.root, "checkout", "-q", "feature")
    git(repo.root, "-c", "core.hooksPath=/dev/null", "merge", "-q", "--no-edit", "main")
    dry = run(["python", "-m", "migguard", "fix", "--dry-run", "--strategy", "renumber", "--onto", "main"], repo.root, check=False)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    shop_diff = dry.stdout[dry.stdout.index("rename to shop/migrations/0003_item_owner.py"):]
    assert "-        ('api', '0003_person_country'),\n" in shop_diff and "+        ('api', '0004_person_country'),\n" in shop_diff
    assert git(repo.root, "status", "--porcelain").stdout == ""
    real = run(["python", "-m", "migguard", "fix", "--strategy", "renumber", "--onto", "main"], repo.root, check=False)
    assert real.returncode == 0, real.stdout
    assert_django_happy(repo)


def test_fix_dry_run_fails_when_the_run_would(seed: DjangoProject) -> None:
    from migguard import fixing, resolve

    diverge(seed, [COUNTRY], [DISCIPLINE])
    git(seed.root, "merge", "-q", "--no-edit", "feature")

    def dangling(project, plans):  # a plan whose result would not load, as a broken rewrite would give
        change = resolve.Change("api/migrations/0009_broken.py", "from django.db import migrations\n\n\n"
                                "class Migration(migrations.Migration):\n    dependencies = [('api', '0404_none')]\n")
        return [plans[0]._replace(changes=[*plans[0].changes, change])]

    dry = fixing.fix(str(seed.root), "merge", dry_run=True, decide=dangling)
    real = fixing.fix(str(seed.root), "merge", decide=dangling)
    assert dry.status == real.status == 1
    assert dry.lines == real.lines
    assert "depends on api.0404_none, which does not exist; nothing was changed" in real.lines[-1]
    assert git(seed.root, "status", "--porcelain").stdout == ""


# 3. Signatures ---------------------------------------------------------------------------------

def signing(project: DjangoProject, tmp_path: Path, passphrase: str = "") -> None:
    key = tmp_path / ("key" if not passphrase else "locked-key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "ada@example.com", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"ada@example.com {Path(str(key) + '.pub').read_text()}")
    for name, value in (("gpg.format", "ssh"), ("user.signingkey", str(key)), ("commit.gpgsign", "true"),
                        ("gpg.ssh.allowedSignersFile", str(allowed))):
        git(project.root, "config", name, value)


def signature(project: DjangoProject, rev: str) -> str:
    return git(project.root, "log", "-1", "--format=%G?", rev).stdout.strip()


def test_commits_the_hooks_write_are_signed(repo: DjangoProject, tmp_path: Path) -> None:
    diverge(repo, [COUNTRY, CITY], [DISCIPLINE])
    signing(repo, tmp_path)
    git(repo.root, "checkout", "-q", "feature")
    git(repo.root, "rebase", "main")
    assert "0005_person_city.py" in head_files(repo)
    assert [signature(repo, sha) for sha in git(repo.root, "rev-list", "main..HEAD").stdout.split()] == ["G", "G"]
    git(repo.root, "checkout", "-q", "-b", "other", "main~1")
    repo.models("api", person_models(BASE, top=(TEAM,)))
    repo.makemigrations("api")
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "other: team")
    done = git(repo.root, "merge", "--no-edit", "main")
    assert any("in merge commit" in line for line in migguard_lines(done))
    assert signature(repo, "HEAD") == "G"
    assert_clean_and_one_leaf(repo)


def test_when_signing_fails_the_resolution_is_left_staged(repo: DjangoProject, tmp_path: Path) -> None:
    diverge(repo, [COUNTRY], [DISCIPLINE])
    signing(repo, tmp_path, passphrase="secret")
    merged = run(["git", "merge", "--no-edit", "--no-gpg-sign", "feature"], repo.root, start_new_session=True,
                 stdin=subprocess.DEVNULL)
    lines = "\n".join(migguard_lines(merged))
    assert "could not sign the merge commit" in lines
    assert "the resolution is staged: add it with `git commit --amend --no-edit`" in lines
    staged = git(repo.root, "diff", "--cached", "--name-only").stdout.split()
    assert "api/migrations/0004_merge_0003_person_country_0003_person_discipline.py" in staged
    assert git(repo.root, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False).returncode != 0
    run(["git", "-c", "commit.gpgsign=false", "commit", "-q", "--amend", "--no-edit"], repo.root)
    assert_clean_and_one_leaf(repo)


def test_when_signing_fails_the_rebase_leaves_the_renumbering_staged_unfolded(repo: DjangoProject, tmp_path: Path) -> None:
    """A key with a passphrase, no agent and no terminal: the hook cannot sign, so it writes no commit."""
    diverge(repo, [COUNTRY], [DISCIPLINE])
    signing(repo, tmp_path, passphrase="secret")
    git(repo.root, "checkout", "-q", "feature")
    no_agent = {name: value for name, value in clean_env().items() if name not in ("SSH_AUTH_SOCK", "SSH_ASKPASS", "DISPLAY")}
    rebased = run(["git", "rebase", "--no-gpg-sign", "main"], repo.root, start_new_session=True,
                  stdin=subprocess.DEVNULL, env=no_agent)
    said = [line for line in migguard_lines(rebased) if "sign" in line]
    assert len(said) == 1 and "could not sign the commits it would write" in said[0], migguard_lines(rebased)
    assert "nothing was committed: the resolution is staged, commit it with `git commit`" in said[0]
    assert git(repo.root, "reflog", "-1", "--format=%gs").stdout.startswith("rebase (finish)")  # no migguard commit
    assert head_files(repo) == ["0001_initial.py", "0002_prev.py", "0003_person_country.py", "0003_person_discipline.py"]
    staged = git(repo.root, "diff", "--cached", "--name-status", "-M").stdout.splitlines()
    renamed = "\tapi/migrations/0003_person_country.py\tapi/migrations/0004_person_country.py"
    assert any(line.startswith("R") and line.endswith(renamed) for line in staged), staged
    run(["git", "-c", "commit.gpgsign=false", "commit", "-q", "-m", "Renumber migrations after rebase"], repo.root)
    assert_clean_and_one_leaf(repo)
    assert "0004_person_country.py" in head_files(repo)


# 5. Advice that works --------------------------------------------------------------------------

@pytest.mark.parametrize("content, state", [
    (None, "is missing"), (b"0001_initial\n", "names 0001_initial, but the leaf is 0002_prev"),
    (b"0002_prev\n0003_gone\n", "names 2 migrations"), (b"<<<<<<< ours\n0002_prev\n=======\n0002_x\n>>>>>>> theirs\n", "conflict markers"),
])
def test_fix_repairs_a_lock_file_and_check_says_it_will(repo: DjangoProject, content: bytes | None, state: str) -> None:
    lock = repo.root / MIGRATIONS / "max_migration.txt"
    if content is None:
        lock.unlink()
    else:
        lock.write_bytes(content)
    out = migguard(repo.root, "check", check=False)
    assert state in out and "`migguard fix`" in out
    out = migguard(repo.root, "fix")
    assert "repaired api/migrations/max_migration.txt" in out
    assert lock.read_text() == "0002_prev\n"
    assert migguard(repo.root, "check").startswith("ok:")


def test_a_revert_leaving_a_dangling_dependency_says_what_is_missing(repo: DjangoProject) -> None:
    git(repo.root, "checkout", "-q", "-b", "feature")
    repo.models("api", person_models(BASE, COUNTRY))
    repo.makemigrations("api")
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "country")
    repo.models("api", person_models(BASE, COUNTRY, CITY))
    repo.makemigrations("api")
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "city")
    git(repo.root, "revert", "--no-edit", "-n", "HEAD~1", check=False)
    git(repo.root, "checkout", "HEAD", "--", "api/models.py")
    out = migguard(repo.root, "check", check=False)
    assert "depends on api.0003_person_country, which does not exist" in out
    assert "leaf migrations" not in out
    out = migguard(repo.root, "fix", check=False)
    assert "api.0003_person_country, which does not exist" in out


def test_a_migration_with_conflict_markers_is_reported_as_that(repo: DjangoProject) -> None:
    diverge(repo, [COUNTRY], [DISCIPLINE])
    path = repo.root / MIGRATIONS / "0003_person_discipline.py"
    path.write_text("<<<<<<< ours\n" + path.read_text() + "=======\n>>>>>>> theirs\n")
    out = migguard(repo.root, "check", check=False)
    assert "0003_person_discipline.py holds git conflict markers" in out
    assert "leaf migrations" not in out


def test_a_rebase_of_a_published_branch_writes_a_merge_commit_saying_why(repo: DjangoProject, tmp_path: Path) -> None:
    with_origin(repo, tmp_path)
    diverge(repo, [COUNTRY], [DISCIPLINE])
    git(repo.root, "push", "-q", "origin", "feature")
    git(repo.root, "checkout", "-q", "feature")
    done = git(repo.root, "rebase", "main")
    short = git(repo.root, "rev-parse", "--short", "main").stdout.strip()
    message = git(repo.root, "log", "-1", "--format=%B").stdout
    assert message.splitlines()[0] == f"Merge migrations after rebase onto {short}"
    assert "api: not renumbered: 0003_person_country is already on a remote branch" in message
    assert any("not renumbered: 0003_person_country is already on a remote branch" in line for line in migguard_lines(done))
    assert "0004_merge_0003_person_country_0003_person_discipline.py" in head_files(repo)
    assert_clean_and_one_leaf(repo)


def test_hook_output_carries_the_run_python_warning_and_force_advice(repo: DjangoProject) -> None:
    diverge(repo, [COUNTRY], [DISCIPLINE])
    path = repo.root / MIGRATIONS / "0003_person_discipline.py"
    path.write_text(path.read_text().replace("    operations = [\n",
                                             "    operations = [\n        migrations.RunPython(migrations.RunPython.noop),\n"))
    git(repo.root, "commit", "-qam", "main: data migration")
    done = git(repo.root, "merge", "--no-edit", "feature")
    assert any("api: warning: RunPython at api/migrations/0003_person_discipline.py" in line for line in migguard_lines(done))


def test_fix_force_says_to_run_makemigrations_check(repo: DjangoProject) -> None:
    from conftest import diverge_models

    diverge_models(repo, (person_models("email = models.EmailField(blank=True, max_length=200)"), "longer_email"),
                   (person_models("email = models.EmailField(blank=False)") + "\n\n# main\n", "required_email"))
    git(repo.root, "merge", "-q", "--no-edit", "-X", "ours", "feature")
    out = migguard(repo.root, "fix", "--force")
    assert "run `python manage.py makemigrations --check`" in out


# 6. The teammate who never installed -----------------------------------------------------------

def test_a_pull_bringing_several_leaves_says_so_at_once(repo: DjangoProject, tmp_path: Path) -> None:
    bare = with_origin(repo, tmp_path)
    teammate = DjangoProject.open(tmp_path / "teammate")
    git(tmp_path, "clone", "-q", "-b", "main", str(bare), "teammate")
    diverge(teammate, [COUNTRY], [DISCIPLINE])
    git(teammate.root, "merge", "-q", "--no-edit", "feature")  # no migguard here: git merges the two files
    git(teammate.root, "push", "-q", "origin", "main")
    done = git(repo.root, "pull", "--ff-only", "origin", "main")
    expected = "app 'api' has 2 leaf migrations (0003_person_country, 0003_person_discipline), merged without migguard; " \
               "run `migguard fix` and commit the result"
    assert any(expected in line for line in migguard_lines(done))
    git(repo.root, "checkout", "-q", "-b", "side", "HEAD~2")
    switched = git(repo.root, "checkout", "main")
    assert any(expected in line for line in migguard_lines(switched))
    quiet = git(repo.root, "checkout", "side")
    assert migguard_lines(quiet) == []


def test_post_checkout_is_quiet_during_a_rebase(repo: DjangoProject) -> None:
    diverge(repo, [COUNTRY], [DISCIPLINE])
    git(repo.root, "-c", "core.hooksPath=/dev/null", "merge", "-q", "--no-edit", "feature")
    git(repo.root, "checkout", "-q", "-b", "topic", "HEAD~1")
    (repo.root / "README.md").write_text("x\n")
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "docs")
    done = git(repo.root, "rebase", "main")
    assert not [line for line in migguard_lines(done) if "merged without migguard" in line]


# 7 and 8. Uninstall, and output inside git's ---------------------------------------------------

def test_uninstall_in_a_clone_changes_no_tracked_file(repo: DjangoProject, tmp_path: Path) -> None:
    bare = with_origin(repo, tmp_path)
    git(tmp_path, "clone", "-q", "-b", "main", str(bare), "clone")
    clone = tmp_path / "clone"
    migguard(clone, "install")
    migguard(clone, "check", "--rev", "HEAD")
    assert (clone / ".git/migguard").is_dir()
    assert git(clone, "status", "--porcelain").stdout == ""
    out = migguard(clone, "uninstall")
    assert git(clone, "status", "--porcelain").stdout == ""
    assert not (clone / ".git/migguard").exists()
    assert "left as they are" not in out
    assert not list((clone / ".git/hooks").glob("*migguard*")) and not (clone / ".git/hooks/post-merge").exists()
    out = migguard(repo.root, "uninstall")
    assert "left as they are, tracked by git: .gitattributes, api/migrations/max_migration.txt" in out
    assert git(repo.root, "status", "--porcelain").stdout == ""


def test_uninstall_right_after_install_on_a_clean_repository_leaves_it_clean(seed: DjangoProject) -> None:
    migguard(seed.root, "install")
    assert git(seed.root, "status", "--porcelain").stdout != ""
    migguard(seed.root, "uninstall")
    assert git(seed.root, "status", "--porcelain").stdout == ""


def test_lines_start_on_their_own_and_the_driver_speaks_once_per_rebase(repo: DjangoProject) -> None:
    diverge(repo, [COUNTRY, CITY, "age = models.IntegerField(default=0)"], [DISCIPLINE])
    git(repo.root, "checkout", "-q", "feature")
    done = subprocess.run(["git", "rebase", "main"], cwd=repo.root, capture_output=True, env=clean_env())
    assert done.returncode == 0
    err = done.stderr.decode()
    for line in err.replace("\r", "\n").split("\n"):
        assert "migguard:" not in line or line.startswith("migguard:"), err
    assert "Rebasing (1/3)\rmigguard" not in err and "Rebasing (3/3)\rmigguard" not in err
    assert err.count("now names 2 leaves") == 1, err
