#!/usr/bin/env python3
"""Where the test run's time went: the JUnit files of scripts/test.sh summed by test file, longest first.

    python scripts/test_times.py [.build/pytest.xml ...] [--top N]

Each line is one file's tests added up (setup, call and teardown, as pytest reports them), in seconds of a
worker: with two workers the wall time is about half the total."""

import argparse
import collections
import sys
import xml.etree.ElementTree as ElementTree


def times_by_file(paths):
    """``{test file: (seconds, tests)}`` over the JUnit files ``paths``."""
    seconds, counts = collections.Counter(), collections.Counter()
    for path in paths:
        for case in ElementTree.parse(path).getroot().iter("testcase"):
            # classname is the test's module path with dots (tests.e2e.test_rollout_role), the class name appended
            parts = case.get("classname", "").split(".")
            while parts and not parts[-1].startswith("test_"):
                parts.pop()
            name = "/".join(parts) + ".py" if parts else case.get("classname", "?")
            seconds[name] += float(case.get("time") or 0)
            counts[name] += 1
    return {name: (seconds[name], counts[name]) for name in seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[".build/pytest.xml"])
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    table = times_by_file(args.paths)
    total = sum(seconds for seconds, _count in table.values())
    for name, (seconds, count) in sorted(table.items(), key=lambda item: -item[1][0])[:args.top]:
        print("%8.1f s %5.1f %% %4d tests  %s" % (seconds, 100.0 * seconds / total if total else 0, count, name))
    print("%8.1f s in %d tests of %d files" % (total, sum(count for _s, count in table.values()), len(table)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
