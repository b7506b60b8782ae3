"""Configuration changes what the hooks do; `migguard graph`."""
from __future__ import annotations

import sys
from pathlib import Path

from conftest import DjangoProject, commit_models, diverge, diverge_models, git, person_models, run

from test_fix import COUNTRY, DISCIPLINE, assert_django_happy, files
from test_git_flows import assert_clean_and_one_leaf, head_files, install, migguard_lines


def migguard(cwd: Path, *args: str, check: bool = True):
    return run([sys.executable, "-m", "migguard", *args], cwd, check=check)


def test_pyproject_merge_strategy_renumber_on_merge(seed: DjangoProject) -> None:
    (seed.root / "pyproject.toml").write_text('[tool.migguard]\nmerge_strategy = "renumber"\n')
    install(seed)
    diverge(seed, [COUNTRY], [DISCIPLINE])
    done = git(seed.root, "merge", "--no-edit", "feature")
    assert any("0003_person_country -> 0004_person_country" in line for line in migguard_lines(done))
    assert head_files(seed)[-1] == "0004_person_country.py"
    assert_clean_and_one_leaf(seed)


def test_setup_cfg_rebase_strategy_merge_and_exclude(seed: DjangoProject) -> None:
    (seed.root / "setup.cfg").write_text("[migguard]\nrebase_strategy = merge\nexclude =\n    vendor/*\n")
    vendored = seed.root / "vendor/old/migrations"
    vendored.mkdir(parents=True)
    (vendored / "__init__.py").touch()
    (vendored / "0001_initial.py").write_text("this is not python, and it is excluded\n")
    install(seed)
    diverge(seed, [COUNTRY], [DISCIPLINE])
    git(seed.root, "checkout", "-q", "feature")
    done = git(seed.root, "rebase", "main")
    assert any("wrote api/migrations/0004_merge_0003_person_country_0003_person_discipline.py" in line
               for line in migguard_lines(done))
    assert git(seed.root, "log", "-1", "--format=%s").stdout.startswith("Merge migrations after rebase onto")
    assert_clean_and_one_leaf(seed)


def test_bad_configuration_is_one_sentence(seed: DjangoProject) -> None:
    (seed.root / "pyproject.toml").write_text('[tool.migguard]\nmerge_strategy = "rebase"\n')
    done = migguard(seed.root, "check", check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == ("migguard: [tool.migguard] in pyproject.toml: merge_strategy must be one of "
                                   "merge, renumber, not 'rebase'.")


def test_deleted_model_collides_with_a_change_to_it(seed: DjangoProject) -> None:
    team = "\n\nclass Team(models.Model):\n    name = models.CharField(max_length=50)\n"
    base = person_models("email = models.EmailField(blank=True)")
    commit_models(seed, "api", base + team, "team", "team")
    diverge_models(seed, (base, "drop_team"), (base + team + "    size = models.IntegerField(default=0)\n", "team_size"))
    git(seed.root, "merge", "-q", "--no-edit", "-X", "ours", "feature")
    done = migguard(seed.root, "fix", check=False)
    assert done.returncode == 1
    assert ("DeleteModel(team) at api/migrations/0004_drop_team.py:13 and AddField(team.size) at "
            "api/migrations/0004_team_size.py:13 touch a model the other side removes or renames") in done.stdout
    assert not [name for name in files(seed) if "_merge_" in name]


def test_force_resolves_and_django_agrees(seed: DjangoProject) -> None:
    diverge_models(seed, (person_models("email = models.EmailField(blank=True, max_length=200)"), "longer_email"),
                   (person_models("email = models.EmailField(blank=True, max_length=100)"), "shorter_email"))
    git(seed.root, "merge", "-q", "--no-edit", "-X", "ours", "feature")
    assert migguard(seed.root, "fix", check=False).returncode == 1
    assert migguard(seed.root, "fix", "--force").returncode == 0
    assert_django_happy(seed)


def test_graph_command(seed: DjangoProject) -> None:
    diverge(seed, [COUNTRY], [DISCIPLINE])
    git(seed.root, "merge", "-q", "--no-edit", "feature")
    text = migguard(seed.root, "graph", "api").stdout.splitlines()
    assert text == ["0001_initial", "0002_prev  <- 0001_initial", "0003_person_country  (leaf)  <- 0002_prev",
                    "0003_person_discipline  (leaf)  <- 0002_prev"]
    dot = migguard(seed.root, "graph", "api", "--format", "dot").stdout
    assert '"api.0002_prev" -> "api.0003_person_country";' in dot
    missing = migguard(seed.root, "graph", "nope", check=False)
    assert missing.returncode == 2 and missing.stderr.strip() == "migguard: no app 'nope' with migrations here (apps: api)."
