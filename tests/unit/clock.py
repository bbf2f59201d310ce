"""A clock for the tests of waits and watches: time passes only when the code under test sleeps."""


class FakeClock(object):
    """Callable for the current time (starting at 0); ``sleep`` advances it instead of sleeping."""

    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
