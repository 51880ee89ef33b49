#!/usr/bin/env python3
# Writes the image-import test corpus (valid and malformed files) with the standard library only.
# valid.jpg is not written here: it was made once by stb_image_write (stbi_write_jpg, quality 90)
# from the same pattern as valid_gray.png, since a JPEG encoder is beyond the standard library
# (the test makes its progressive, grey and CMYK JPEGs with libjpeg at run time).
# The png_* and gif_* files cover every layout the decoders convert (palette, tRNS, 1..16 bits,
# Adam7, interlaced and offset GIF frames); the test compares each with stb_image's reading.
import os
import random
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width, height, rows, color_type):
    # rows: list of bytes objects, already in the colour type's layout (8 bits per sample).
    raw = b"".join(b"\x00" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def left_black_gray(w, h):
    return [bytes(0 if x < w // 2 else 255 for x in range(w)) for _ in range(h)]


def bmp24(w, h, pixel):
    # Bottom-up 24-bit BMP; pixel(x, y) -> (r, g, b) with y = 0 the top row.
    stride = (w * 3 + 3) & ~3
    body = b""
    for y in reversed(range(h)):
        row = b"".join(bytes(reversed(pixel(x, y))) for x in range(w))
        body += row + b"\x00" * (stride - len(row))
    header = struct.pack("<2sIHHI", b"BM", 54 + len(body), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(body), 2835, 2835, 0, 0)
    return header + info + body


def gif_two_colour(w, h, pixel):
    # Minimal GIF89a with a 2-entry palette. LZW: code size 2 (codes 0..3 + clear 4 + end 5), each
    # pixel sent as a literal and a clear code every few pixels so the code width stays 3 bits.
    palette = b"\x00\x00\x00\xff\xff\xff"
    codes = []
    for i, p in enumerate(pixel(x, y) for y in range(h) for x in range(w)):
        if i % 2 == 0:
            codes.append(4)
        codes.append(p)
    codes.append(5)
    bits, nbits, out = 0, 0, bytearray()
    for c in codes:
        bits |= c << nbits
        nbits += 3
        while nbits >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8
    if nbits:
        out.append(bits & 0xFF)
    blocks = b"".join(bytes([len(out[i:i + 255])]) + bytes(out[i:i + 255])
                      for i in range(0, len(out), 255)) + b"\x00"
    return (b"GIF89a" + struct.pack("<HHBBB", w, h, 0x80, 0, 0) + palette
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x02" + blocks + b"\x3b")


# [SECTION] PNG layouts beyond 8-bit grey: any colour type and depth, all five filters, Adam7

CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]


def pack_row(samples, depth):
    # samples: flat list of sample values (one per channel per pixel) at `depth` bits each.
    if depth == 16:
        return b"".join(struct.pack(">H", v) for v in samples)
    if depth == 8:
        return bytes(samples)
    out, acc, nbits = bytearray(), 0, 0
    for v in samples:
        acc = (acc << depth) | v
        nbits += depth
        if nbits == 8:
            out.append(acc)
            acc, nbits = 0, 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_rows(rows, bpp):
    # Filter type cycles 0..4 row by row so the readers' unfiltering is all exercised.
    out, prev = b"", None
    for i, row in enumerate(rows):
        up = prev if prev is not None else bytes(len(row))
        ftype = i % 5
        f = bytearray()
        for x, v in enumerate(row):
            a = row[x - bpp] if x >= bpp else 0
            b = up[x]
            c = up[x - bpp] if x >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ftype]
            f.append((v - pred) & 0xFF)
        out += bytes([ftype]) + bytes(f)
        prev = row
    return out


def png_full(width, height, depth, color_type, pixel, interlace=False, palette=None, trns=None):
    # pixel(x, y) -> tuple of samples for the colour type (an index for palettes).
    ch = CHANNELS[color_type]
    bpp = max(1, ch * depth // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = b""
    for x0, y0, dx, dy in passes:
        xs, ys = range(x0, width, dx), range(y0, height, dy)
        if not xs or not ys:
            continue
        rows = [pack_row([s for x in xs for s in pixel(x, y)], depth) for y in ys]
        raw += filter_rows(rows, bpp)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if palette is not None:
        out += chunk(b"PLTE", b"".join(bytes(c) for c in palette))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    # Split IDAT in two so readers must join chunks.
    z = zlib.compress(raw, 9)
    half = len(z) // 2
    return out + chunk(b"IDAT", z[:half]) + chunk(b"IDAT", z[half:]) + chunk(b"IEND", b"")


def colourful(x, y):
    # A pattern where every channel varies, so luminance weights and rounding matter.
    return ((x * 37 + y * 11) % 256, (x * 7 + y * 53) % 256, (x * y * 3 + 17) % 256)


def write_png_layouts():
    w, h = 23, 17
    dark_left = lambda x: 0 if x < w // 2 else 1
    # 8-bit palette of 200 colours, with tRNS making index 0 transparent and 1..3 half.
    pal = [colourful(i, i * 3) for i in range(200)]
    write("png_palette_trns.png",
          png_full(w, h, 8, 3, lambda x, y: ((x * 5 + y * 3) % 200,), palette=pal,
                   trns=bytes([0, 128, 128, 128])))
    # 1, 2 and 4-bit grey (scaled to 0..255 on reading).
    for depth in (1, 2, 4):
        top = (1 << depth) - 1
        write("png_gray%d.png" % depth,
              png_full(w, h, depth, 0, lambda x, y, top=top: ((x * 3 + y) % (top + 1),)))
    # 4-bit palette, interlaced, odd size.
    write("png_palette4_adam7.png",
          png_full(13, 11, 4, 3, lambda x, y: ((x + 2 * y) % 16,),
                   palette=[colourful(i * 9, i) for i in range(16)], interlace=True))
    # 16-bit grey with a tRNS grey value, 16-bit RGBA, 16-bit grey+alpha interlaced.
    write("png_gray16_trns.png",
          png_full(w, h, 16, 0, lambda x, y: ((x * 2851 + y * 1013) % 65536,),
                   trns=struct.pack(">H", (5 * 2851 + 3 * 1013) % 65536)))
    write("png_rgba16.png",
          png_full(w, h, 16, 6, lambda x, y: tuple((v * 257 + x) % 65536 for v in colourful(x, y))
                   + ((y * 4001) % 65536,)))
    write("png_gray_alpha16_adam7.png",
          png_full(w, h, 16, 4, lambda x, y: ((x * 2000) % 65536, (y * 3000 + 500) % 65536),
                   interlace=True))
    # 8-bit RGB with a tRNS colour, 8-bit grey+alpha, 8-bit RGB interlaced.
    write("png_rgb_trns.png",
          png_full(w, h, 8, 2, lambda x, y: colourful(x % 4, y % 3),
                   trns=struct.pack(">HHH", *colourful(1, 1))))
    write("png_gray_alpha.png",
          png_full(w, h, 8, 4, lambda x, y: (60 * dark_left(x), (x * 11 + y * 7) % 256)))
    write("png_rgb_adam7.png", png_full(w, h, 8, 2, colourful, interlace=True))
    # Adam7 images so small that some passes are empty.
    for sw, sh in ((1, 1), (3, 2), (2, 5)):
        write("png_tiny_adam7_%dx%d.png" % (sw, sh),
              png_full(sw, sh, 8, 2, lambda x, y: colourful(x * 40, y * 40), interlace=True))


# [SECTION] GIF layouts: transparency, interlace, a frame smaller than the screen, local palettes

def lzw_literals(indices, code_size):
    # Every index sent as a literal, a clear code before every two, so the code width never grows
    # (cs + 1 bits): valid LZW that any reader must accept, if not small.
    clear, end, width = 1 << code_size, (1 << code_size) + 1, code_size + 1
    codes = []
    for i, p in enumerate(indices):
        if i % 2 == 0:
            codes.append(clear)
        codes.append(p)
    codes.append(end)
    bits, nbits, out = 0, 0, bytearray()
    for c in codes:
        bits |= c << nbits
        nbits += width
        while nbits >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8
    if nbits:
        out.append(bits & 0xFF)
    return bytes([code_size]) + b"".join(bytes([len(out[i:i + 255])]) + bytes(out[i:i + 255])
                                         for i in range(0, len(out), 255)) + b"\x00"


def colour_table(colours):
    # Padded to a power of two (at least 2); returns (bytes, size field).
    n = 2
    while n < len(colours):
        n *= 2
    table = list(colours) + [(0, 0, 0)] * (n - len(colours))
    return b"".join(bytes(c) for c in table), n.bit_length() - 2


def gif_frame(left, top, w, h, pixel, interlace=False, local=None, transparent=None):
    gce = b""
    if transparent is not None:
        gce = b"\x21\xf9\x04" + bytes([1]) + b"\x00\x00" + bytes([transparent]) + b"\x00"
    flags = 0x40 if interlace else 0
    table = b""
    colours = 256
    if local is not None:
        table, size = colour_table(local)
        flags |= 0x80 | size
        colours = len(table) // 3
    order = list(range(h))
    if interlace:
        order = (list(range(0, h, 8)) + list(range(4, h, 8)) + list(range(2, h, 4))
                 + list(range(1, h, 2)))
    indices = [pixel(x, y) for y in order for x in range(w)]
    code_size = max(2, (max(indices + [colours - 1])).bit_length())
    return (gce + b"\x2c" + struct.pack("<HHHHB", left, top, w, h, flags) + table
            + lzw_literals(indices, code_size))


def gif_file(w, h, frames, palette=None, background=0, extensions=b""):
    flags, table = 0, b""
    if palette is not None:
        table, size = colour_table(palette)
        flags = 0x80 | size
    return (b"GIF89a" + struct.pack("<HHBBB", w, h, flags, background, 0) + table + extensions
            + b"".join(frames) + b"\x3b")


def write_gif_layouts():
    # Left half black, right half the transparent index, whose colour is black too: only a
    # reader that honours transparency puts every point on the left.
    pal = [(0, 0, 0), (255, 255, 255), (0, 0, 0), (200, 30, 60)]
    write("gif_transparent.gif",
          gif_file(16, 12, [gif_frame(0, 0, 16, 12, lambda x, y: 0 if x < 8 else 2, transparent=2)],
                   palette=pal))
    # A comment and a loop extension first, then an interlaced 11x13 frame at (3, 2) on a 20x18
    # screen with a local palette of 32 colours; the background index 5 is a grey (red == blue,
    # so stb's red/blue swap of the background does not show); a second frame must be ignored.
    screen = [(i * 8, i * 5, i * 8) for i in range(8)]
    local = [colourful(i * 8, i) for i in range(32)]
    comment = b"\x21\xfe\x05hello\x00"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    first = gif_frame(3, 2, 11, 13, lambda x, y: (x * 3 + y * 5) % 32, interlace=True,
                      local=local, transparent=7)
    second = gif_frame(0, 0, 20, 18, lambda x, y: 1)
    write("gif_interlaced_offset.gif",
          gif_file(20, 18, [first, second], palette=screen, background=5,
                   extensions=comment + loop))
    # 256 colours, 8-bit codes, a frame covering the screen.
    full = gif_frame(0, 0, 19, 9, lambda x, y: (x * 13 + y * 29) % 256)
    write("gif_256.gif", gif_file(19, 9, [full], palette=[colourful(i, 255 - i) for i in range(256)]))
    gif = gif_file(12, 8, [gif_frame(0, 0, 12, 8, lambda x, y: 0 if x < 6 else 1)],
                   palette=[(0, 0, 0), (255, 255, 255)])
    write("truncated.gif", gif[: len(gif) // 2])


# [SECTION] A JPEG that overflowed stb_image's Huffman tables

def bad_dht_jpeg(jpg):
    # A DHT segment whose 16 code-length counts are all 255: 4080 codes where a table holds 256.
    # stb_image (2022) built the table without checking the sum and wrote ~4 KB past it, even in
    # stbi_info; libjpeg refuses the segment.
    counts = bytes([255] * 16)
    body = b"\x00" + counts + bytes(i % 256 for i in range(sum(counts)))
    dht = b"\xff\xc4" + struct.pack(">H", 2 + len(body)) + body
    return jpg[:2] + dht + jpg[2:]


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def main():
    rng = random.Random(5)
    gray = png(32, 24, left_black_gray(32, 24), 0)
    write("valid_gray.png", gray)
    # Transparent background, opaque black square in the top-left quadrant; the transparent
    # pixels are black in RGB so only alpha-aware code gets this right.
    rgba_rows = []
    for y in range(16):
        rgba_rows.append(b"".join(b"\x00\x00\x00\xff" if x < 8 and y < 8 else b"\x00\x00\x00\x00"
                                  for x in range(16)))
    write("valid_rgba.png", png(16, 16, rgba_rows, 6))
    write("valid.bmp", bmp24(20, 10, lambda x, y: (0, 0, 0) if x < 10 else (255, 255, 255)))
    write("valid.gif", gif_two_colour(12, 8, lambda x, y: 0 if x < 6 else 1))
    write("all_white.png", png(16, 16, [b"\xff" * 16 for _ in range(16)], 0))

    write("truncated.png", gray[: len(gray) // 2])
    write("garbage.png", bytes(rng.randrange(256) for _ in range(4096)))
    write("garbage.bin", bytes(rng.randrange(256) for _ in range(1024)))
    write("text_named.png", b"x,y\n0.5,1.25\nthis is a CSV file, not an image\n")
    write("empty.png", b"")
    write("signature_only.png", b"\x89PNG\r\n\x1a\n")
    # A valid-looking header that claims 30000 x 30000 pixels, with a tiny IDAT after it.
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    write("huge_header.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
          + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    ihdr0 = struct.pack(">IIBBBBB", 0, 0, 8, 0, 0, 0, 0)
    write("zero_size.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr0) + chunk(b"IEND", b""))
    bmp = bmp24(20, 10, lambda x, y: (0, 0, 0))
    write("truncated.bmp", bmp[:80])
    # A BMP whose header claims 100000 x 100000 pixels.
    write("huge_header.bmp", bmp[:18] + struct.pack("<ii", 100000, 100000) + bmp[26:])
    with open(os.path.join(HERE, "valid.jpg"), "rb") as f:
        jpg = f.read()
    write("truncated.jpg", jpg[: len(jpg) // 3])
    write("bad_dht.jpg", bad_dht_jpeg(jpg))
    write_png_layouts()
    write_gif_layouts()


if __name__ == "__main__":
    main()
