# A block device in RAM with the extended interface LittleFS uses (4 KB
# blocks, as on the ESP32), for MicroPython unit tests and benchmarks. Every
# program and erase goes through apply() and then written(), which a
# subclass overrides to count or record them.


class RamDisk:
    def __init__(self, blocks, image=None, block_size=4096):
        self.bs, self.blocks = block_size, blocks
        self.data = bytearray(image or b"\xff" * (block_size * blocks))

    def readblocks(self, block, buf, off=0):
        a = block * self.bs + off
        buf[:] = self.data[a : a + len(buf)]

    def writeblocks(self, block, buf, off=0):
        self.apply(block, off, buf)
        self.written(block, off, buf, False)

    def apply(self, block, off, buf):
        a = block * self.bs + off
        self.data[a : a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.bs
        if op == 6:  # erase
            erased = b"\xff" * self.bs
            self.apply(arg, 0, erased)
            self.written(arg, 0, erased, True)
            return 0

    def written(self, block, off, buf, erase):
        pass
