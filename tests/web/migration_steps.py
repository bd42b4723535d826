"""Data-migration tests: move the test database's schema to a migration and back to the latest.

A test module imports ``migrate`` and the fixture ``latest_schema_after`` (autouse there), so
later tests find every table again."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(targets):
    """Migrate to ``targets`` ([(app, migration name)]); returns the apps registry at that state."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def latest_schema_after():
    """Later tests need every table: migrate forward to the latest migrations afterwards."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
