# Parts made on first use (issue 24: on the stock firmware a module's code
# lives in the heap). An OnUse stands where the part would be (app.py's
# parts, a service's reference): the first attribute read makes the part -
# and imports its modules -, later reads go to it; drop() gives the part
# and its modules back to the heap until the next use. It is false while
# the part is not made, so a caller may ask "is there any?" for free:
# `if reservations and reservations.on(n)`.
import os
from uocpp import unload


def held(path):
    # Does the JSON file at path hold anything? A part whose state is on
    # flash is made at boot; "[]" or "{}" (2 bytes) is a file with nothing.
    # Or its temp file alone (FAT: a write killed between its remove and
    # its rename), which json_file.read_json takes as the file.
    for name in (path, path + ".tmp"):
        try:
            return os.stat(name)[6] > 2
        except OSError:
            pass
    return False


class OnUse:
    def __init__(self, make, modules=()):
        # make() -> the part (importing what it needs); modules: the dotted
        # names drop() unloads.
        self.obj = None
        self._make = make
        self._modules = modules

    def __bool__(self):
        return self.obj is not None

    def get(self):
        obj = self.obj
        if obj is None:
            obj = self.obj = self._make()
        return obj

    def __getattr__(self, name):
        # Only for names an OnUse does not have itself: the part's.
        return getattr(self.get(), name)

    def drop(self):
        self.obj = None
        for name in self._modules:
            unload(name)


async def serve(door):
    # The task of a door (an OnUse with a `changed` event whose part has a
    # run() that returns once the part holds nothing): waits while the part
    # is not made, runs the part's task while it is, and drops the part when
    # that returns. A door class takes it as its run: `run = serve`.
    while True:
        part = door.obj
        if part is None:
            door.changed.clear()
            await door.changed.wait()
            continue
        await part.run()
        if door.obj is part:
            door.drop()
