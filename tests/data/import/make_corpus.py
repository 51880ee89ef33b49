#!/usr/bin/env python3
# Writes the image-import test corpus (valid and malformed files) with the standard library only.
# valid.jpg is not written here: it was made once by stb_image_write (stbi_write_jpg, quality 90)
# from the same pattern as valid_gray.png, since a JPEG encoder is beyond the standard library.
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


if __name__ == "__main__":
    main()
