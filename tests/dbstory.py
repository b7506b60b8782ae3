"""Helpers for the database stories: a project whose settings read an untracked database.json, data
stored and dumped, and the health checks a user would run afterwards — in as few Django starts as can be."""
from __future__ import annotations

import contextlib
import json
import shutil
import sys
from pathlib import Path
from collections.abc import Iterator

from conftest import DjangoProject, clean_env, commit_models, git, person_models, run

DATABASE_OVERRIDE = """
_database = BASE_DIR / "database.json"
if _database.exists():
    DATABASES = {"default": json.loads(_database.read_text())}
"""

DISCIPLINE = "discipline = models.CharField(max_length=20, default='')"
COUNTRY = "country = models.CharField(max_length=32, default='')"
NICKNAME = "nickname = models.CharField(max_length=30, default='')"
SHOP = """
from django.db import models


class Order(models.Model):
    person = models.ForeignKey("api.Person", on_delete=models.CASCADE)
    total = models.DecimalField(max_digits=8, decimal_places=2)
"""

STEPS = r"""
import io, json, sys
request = json.loads(sys.argv[1])
from django.conf import settings
if request.get("fresh"):
    settings.DATABASES["fresh"] = request["fresh"]
import django
django.setup()
from django.core.management import call_command
from django.db import connections
from migguard.django import schema


def dump(alias):
    connection = connections[alias]
    rows, columns = {}, {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if table != "django_migrations":
                cursor.execute("SELECT * FROM " + connection.ops.quote_name(table))
                rows[table] = sorted([[str(value) for value in row] for row in cursor.fetchall()])
                columns[table] = [column[0] for column in cursor.description]
        cursor.execute("SELECT app, name FROM django_migrations")
        recorded = sorted(list(row) for row in cursor.fetchall())
    return {"rows": rows, "columns": columns, "schema": schema.snapshot(connection), "recorded": recorded}


def exit_status(*args, **options):
    try:
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO(), **options)
    except SystemExit as stop:
        return stop.code or 0
    return 0


out = {}
for step in request["steps"]:
    if step == "migrate":
        call_command("migrate", interactive=False, verbosity=0)
    elif step == "people":
        from api.models import Person
        Person.objects.create(name="Ada", discipline="maths")
        Person.objects.create(name="Grace", discipline="navy")
    elif step == "order":
        from api.models import Person
        from shop.models import Order
        Order.objects.create(person=Person.objects.get(name="Ada"), total="12.50")
    elif step == "profiles":
        from healthcare.models import Billing, Payment, UserProfile
        ada = UserProfile.objects.create(name="Ada", role="doctor")
        UserProfile.objects.create(name="Grace", role="nurse")
        Payment.objects.create(billing=Billing.objects.create(profile=ada, amount="12.50"))
    elif step == "dump":
        out["dump"] = dump("default")
    elif step == "checks":
        out["migrate --check"] = exit_status("migrate", check_unapplied=True)
        out["makemigrations --check"] = exit_status("makemigrations", check_changes=True, dry_run=True)
    elif step == "fresh":
        call_command("migrate", database="fresh", interactive=False, verbosity=0)
        out["fresh"] = schema.snapshot(connections["fresh"])
print(json.dumps(out))
"""


def migguard(project: DjangoProject, *args: str, check: bool = False):
    return run([sys.executable, "-m", "migguard", *args], project.root, check=check)


def steps(project: DjangoProject, *names: str, fresh: dict | None = None) -> dict:
    """Run these steps in one Django process of the project: migrate, people, order, dump, checks, fresh."""
    request = {"steps": list(names), "fresh": fresh}
    done = run([sys.executable, "-c", STEPS, json.dumps(request)], project.root,
               env=clean_env(DJANGO_SETTINGS_MODULE="settings", PYTHONPATH=str(project.root)))
    return json.loads(done.stdout.strip().splitlines()[-1])


def dump(project: DjangoProject) -> dict:
    return steps(project, "dump")["dump"]


def prepare(project: DjangoProject, database: dict | None, installed: bool = True) -> None:
    """settings.py reads an untracked database.json (else SQLite); migguard installed; committed on main."""
    with open(project.root / "settings.py", "a") as handle:
        handle.write(DATABASE_OVERRIDE)
    with open(project.root / ".gitignore", "a") as handle:
        handle.write("database.json\n*.sqlite3\n")
    if installed:
        migguard(project, "install", check=True)
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "settings: database.json; use migguard")
    if database:
        (project.root / "database.json").write_text(json.dumps(database))


def migrate_and_store(project: DjangoProject, *extra: str) -> dict:
    """On the branch: migrate, store two people (and `extra` steps); the database dumped."""
    return steps(project, "migrate", "people", *extra, "dump")["dump"]


def feature_migrated(project: DjangoProject, upstream: str = "") -> dict:
    """main and feature each add a 0003 to api (country, discipline; main's replaced by `upstream` when given);
    feature checked out, migrated, people stored: the database dumped."""
    from conftest import diverge

    diverge(project, [DISCIPLINE], [COUNTRY])
    if upstream:
        (project.root / "api/migrations/0003_person_country.py").write_text(upstream)
        git(project.root, "commit", "-qam", "main: country refuses existing rows")
    git(project.root, "checkout", "-q", "feature")
    return migrate_and_store(project)


def assert_people_kept_after_migrate(project: DjangoProject) -> None:
    """Plain migrate has nothing left to apply, and both people keep their discipline."""
    migrate = project.manage("migrate", "--no-input")
    assert "No migrations to apply" in migrate.stdout
    people = project.manage("shell", "-c", "from api.models import Person\n"
                            "print(sorted(Person.objects.values_list('name', 'discipline')))").stdout
    assert "[('Ada', 'maths'), ('Grace', 'navy')]" in people


def assert_healthy(project: DjangoProject, before: dict, fresh: dict | None) -> None:
    """Plain migrate is a no-op, every row and value kept, both --check exit 0, schema equals a fresh database."""
    migrate = project.manage("migrate", "--no-input")
    assert "No migrations to apply" in migrate.stdout, migrate.stdout
    result = steps(project, "checks", "dump", "fresh",
                   fresh=fresh or {"ENGINE": "django.db.backends.sqlite3", "NAME": str(project.root / "fresh.sqlite3")})
    after = result["dump"]
    for table, rows in before["rows"].items():
        width = len(rows[0]) if rows else 0
        assert [row[:width] for row in after["rows"][table]] == rows, table
    assert ["1", "Ada"] == after["rows"]["api_person"][0][:2] and "maths" in after["rows"]["api_person"][0]
    assert result["migrate --check"] == 0 and result["makemigrations --check"] == 0
    assert after["schema"] == result["fresh"]


@contextlib.contextmanager
def database_away(project: DjangoProject) -> Iterator[None]:
    """The project's database is not configured for a while (the hook then has nothing to ask)."""
    moved = []
    for name in ("database.json", "db.sqlite3"):
        if (project.root / name).exists():
            shutil.move(project.root / name, project.root / f"{name}.away")
            moved.append(name)
    try:
        yield
    finally:
        (project.root / "db.sqlite3").unlink(missing_ok=True)
        for name in moved:
            shutil.move(project.root / f"{name}.away", project.root / name)


def chain_with_a_dependent_app(project: DjangoProject) -> None:
    """feature: api gets two migrations, then app `shop` (foreign key to api.Person) depends on the second."""
    root = project.root
    git(root, "checkout", "-q", "-b", "feature")
    base = "email = models.EmailField(blank=True)"
    project.models("api", person_models(base, top=(DISCIPLINE,)))
    project.makemigrations("api")
    project.models("api", person_models(base, top=(DISCIPLINE, NICKNAME)))
    project.makemigrations("api")
    project.add_app("shop", SHOP)
    project.makemigrations("shop")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "feature: discipline, nickname, shop")
    git(root, "checkout", "-q", "main")
    project.models("api", person_models(base, COUNTRY))
    project.makemigrations("api")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "main: country")


def with_origin(project: DjangoProject) -> None:
    """A bare `origin` holding main only (the feature's migrations are unpublished)."""
    git(project.root.parent, "init", "-q", "--bare", "origin.git")
    git(project.root, "remote", "add", "origin", str(project.root.parent / "origin.git"))
    git(project.root, "push", "-q", "origin", "main")


def saved_file(output: str) -> Path:
    return Path(output.rsplit("restoring them: ", 1)[1].strip())


PROFILE = """
from django.db import models


class UserProfile(models.Model):
    name = models.CharField(max_length=100)
    role = models.CharField(max_length={length}, choices={choices}, default="nurse")
    phone = models.CharField(max_length=20, default="")
{more}"""

BILLING = """

class Billing(models.Model):
    profile = models.ForeignKey(UserProfile, on_delete=models.CASCADE)
    amount = models.DecimalField(max_digits=8, decimal_places=2)

    class Meta:
        db_table = "billings"


class Payment(models.Model):
    billing = models.ForeignKey(Billing, on_delete=models.CASCADE)
    paid_at = models.DateTimeField(auto_now_add=True)
"""

ROLES = [("doctor", "Doctor"), ("nurse", "Nurse")]


def profiles(length: int = 20, roles: list = ROLES, billing: bool = False) -> str:
    return PROFILE.format(length=length, choices=repr(roles), more=BILLING if billing else "")


def superseded_story(root: Path) -> None:
    """Story (b). main: app `healthcare` (UserProfile; 0001, 0002) and then `0003_billing_payment` creating the
    `billings` table, as a server applied it. Branches `choices` and `length` delete that 0003 and let
    makemigrations write a different 0003 creating the same tables and altering `role`: its choices only, or its
    max_length 20 -> 32. settings.py reads an untracked database.json (else SQLite)."""
    project = DjangoProject(root)
    with open(root / "settings.py", "a") as handle:
        handle.write(DATABASE_OVERRIDE)
    with open(root / ".gitignore", "a") as handle:
        handle.write("database.json\n*.sqlite3\n")
    project.add_app("healthcare", profiles().replace('    phone = models.CharField(max_length=20, default="")\n', ""))
    project.makemigrations("healthcare")
    project.models("healthcare", profiles())
    project.makemigrations("healthcare")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "healthcare: UserProfile")
    commit_models(project, "healthcare", profiles(billing=True), "billing_payment", "healthcare: billing")
    for branch, models in (("choices", profiles(roles=[*ROLES, ("admin", "Admin")], billing=True)),
                           ("length", profiles(length=32, billing=True))):
        git(root, "checkout", "-q", "-b", branch, "main")
        git(root, "rm", "-q", "healthcare/migrations/0003_billing_payment.py")
        project.models("healthcare", models)
        project.makemigrations("healthcare")
        git(root, "add", "-A")
        git(root, "commit", "-qm", f"healthcare: billing again, role {branch}")
    git(root, "checkout", "-q", "main")


def new_migration(project: DjangoProject) -> str:
    """The name of the 0003 makemigrations wrote on the checked-out branch."""
    return next(project.root.glob("healthcare/migrations/0003_*.py")).stem


def rows_by_column(dumped: dict) -> dict:
    """Each table's rows as sorted {column: value} items: the same whatever order a table rebuild left the columns in."""
    return {table: sorted(sorted(zip(dumped["columns"][table], row, strict=True)) for row in rows)
            for table, rows in dumped["rows"].items()}
