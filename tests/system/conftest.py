import pytest

from tests.system import systems


@pytest.fixture
def system():
    """(population, path of "a", path of "cmaterdb/b"): two ended tasks."""
    return systems.two_task_system()
