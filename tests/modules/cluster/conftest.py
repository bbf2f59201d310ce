"""Module tests: the real module code (main() with injected arguments) against the lab's API emulator.

Each test gets its own emulated cluster (API server + controllers, pods simulated) on a port from
the OS, stopped when the test ends.
"""

import pytest

from tests.lab.apiserver.testing import running_cluster


@pytest.fixture
def lab(tmp_path):
    with running_cluster(tmp_path, pods="simulated") as cluster:
        yield cluster
