# Small assertion helpers for the unit modules (MicroPython has no unittest).


def eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what or "value", got, want))


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s did not raise %s" % (getattr(fn, "__name__", fn), exc.__name__))


class TempDir:
    # A fresh directory under /tmp for one test; removed at exit.
    def __init__(self, tag):
        import os

        self.path = "/tmp/uocpp-unit-%s-%d" % (tag, int.from_bytes(os.urandom(4), "big"))
        os.mkdir(self.path)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        import os

        for name in os.listdir(self.path):
            os.remove(self.path + "/" + name)
        os.rmdir(self.path)
