"""scripts/test_times.py: the JUnit durations of a test run summed by test file."""

import importlib.util
import os

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "test_times.py")
spec = importlib.util.spec_from_file_location("test_times", SCRIPT)
test_times = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_times)

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.e2e.test_rollout_role" name="test_promotion_by_steps" time="73.5" />
<testcase classname="tests.e2e.test_rollout_role" name="test_abort" time="61.25" />
<testcase classname="tests.unit.plugins.test_schedule.TestSteps" name="test_one" time="0.5" />
<testcase classname="tests.unit.plugins.test_schedule.TestSteps" name="test_two" />
</testsuite></testsuites>
"""


def test_sums_each_file_and_counts_its_tests(tmp_path):
    path = tmp_path / "pytest.xml"
    path.write_text(JUNIT)
    assert test_times.times_by_file([str(path)]) == {
        "tests/e2e/test_rollout_role.py": (134.75, 2),
        # a test class belongs to its file; a case without a time counts 0 s
        "tests/unit/plugins/test_schedule.py": (0.5, 2),
    }


def test_prints_the_longest_first_and_the_total(tmp_path, capsys):
    path = tmp_path / "pytest.xml"
    path.write_text(JUNIT)
    assert test_times.main([str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("tests/e2e/test_rollout_role.py") and "134.8 s" in lines[0]
    assert lines[1].endswith("tests/unit/plugins/test_schedule.py")
    assert lines[-1].strip() == "135.2 s in 4 tests of 2 files"
