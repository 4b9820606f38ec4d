"""Winograd F(2x2, 3x3)'s input and output transforms a band of tiles at a time: tried, not kept."""
import numpy
from minicnn.engine.kernels.compiled import numba_loop, unsigned


@numba_loop
def _input_band_loops(images, count, channels, height, width, padding_y, padding_x, tiles_y, tiles_x,
                      transformed, first, last):
    per_image = tiles_y * tiles_x
    columns = count * per_image
    row = 2 * tiles_x + 2
    padded = numpy.zeros((2 * tiles_y + 2) * row, dtype=images.dtype)
    values = numpy.empty(16 * per_image, dtype=images.dtype)
    c0 = numpy.empty(row, dtype=images.dtype)
    c1 = numpy.empty(row, dtype=images.dtype)
    c2 = numpy.empty(row, dtype=images.dtype)
    c3 = numpy.empty(row, dtype=images.dtype)
    for plane in range(first, last):
        c, n = plane // count, plane % count
        image = (n * channels + c) * height * width
        for y in range(height):
            for x in range(width):
                padded[unsigned((y + padding_y) * row + padding_x + x)] = images[
                    unsigned(image + y * width + x)]
        for ty in range(tiles_y):
            top = 2 * ty * row
            for x in range(row):                          # B^T d down every column of the band at once
                d0 = padded[unsigned(top + x)]
                d1 = padded[unsigned(top + row + x)]
                d2 = padded[unsigned(top + 2 * row + x)]
                d3 = padded[unsigned(top + 3 * row + x)]
                c0[x] = d0 - d2
                c1[x] = d1 + d2
                c2[x] = d2 - d1
                c3[x] = d1 - d3
            start = ty * tiles_x
            for tx in range(tiles_x):                     # (B^T d) B along each row i, tile by tile
                t = start + tx
                x = 2 * tx
                values[unsigned(t)] = c0[x] - c0[x + 2]
                values[unsigned(per_image + t)] = c0[x + 1] + c0[x + 2]
                values[unsigned(2 * per_image + t)] = c0[x + 2] - c0[x + 1]
                values[unsigned(3 * per_image + t)] = c0[x + 1] - c0[x + 3]
                values[unsigned(4 * per_image + t)] = c1[x] - c1[x + 2]
                values[unsigned(5 * per_image + t)] = c1[x + 1] + c1[x + 2]
                values[unsigned(6 * per_image + t)] = c1[x + 2] - c1[x + 1]
                values[unsigned(7 * per_image + t)] = c1[x + 1] - c1[x + 3]
                values[unsigned(8 * per_image + t)] = c2[x] - c2[x + 2]
                values[unsigned(9 * per_image + t)] = c2[x + 1] + c2[x + 2]
                values[unsigned(10 * per_image + t)] = c2[x + 2] - c2[x + 1]
                values[unsigned(11 * per_image + t)] = c2[x + 1] - c2[x + 3]
                values[unsigned(12 * per_image + t)] = c3[x] - c3[x + 2]
                values[unsigned(13 * per_image + t)] = c3[x + 1] + c3[x + 2]
                values[unsigned(14 * per_image + t)] = c3[x + 2] - c3[x + 1]
                values[unsigned(15 * per_image + t)] = c3[x + 1] - c3[x + 3]
        first_column = c * columns + n * per_image
        for k in range(16):
            start = first_column + k * channels * columns
            for t in range(per_image):
                transformed[unsigned(start + t)] = values[unsigned(k * per_image + t)]


@numba_loop
def _output_band_loops(product, count, filters, out_height, out_width, tiles_y, tiles_x, bias,
                       images, first, last):
    per_image = tiles_y * tiles_x
    columns = count * per_image
    values = numpy.empty(16 * per_image, dtype=product.dtype)
    row0 = numpy.empty(2 * tiles_x, dtype=product.dtype)
    row1 = numpy.empty(2 * tiles_x, dtype=product.dtype)
    for plane in range(first, last):
        f, n = plane // count, plane % count
        first_column = f * columns + n * per_image
        for k in range(16):
            start = first_column + k * filters * columns
            for t in range(per_image):
                values[unsigned(k * per_image + t)] = product[unsigned(start + t)]
        image = (n * filters + f) * out_height * out_width
        b = bias[f]
        for ty in range(tiles_y):
            start = ty * tiles_x
            for tx in range(tiles_x):
                t = start + tx
                # A^T M down column j: (m0 + m1 + m2, m1 - m2 - m3), m_i = M[4i + j]
                m00 = values[unsigned(t)]
                m01 = values[unsigned(per_image + t)]
                m02 = values[unsigned(2 * per_image + t)]
                m03 = values[unsigned(3 * per_image + t)]
                m10 = values[unsigned(4 * per_image + t)]
                m11 = values[unsigned(5 * per_image + t)]
                m12 = values[unsigned(6 * per_image + t)]
                m13 = values[unsigned(7 * per_image + t)]
                m20 = values[unsigned(8 * per_image + t)]
                m21 = values[unsigned(9 * per_image + t)]
                m22 = values[unsigned(10 * per_image + t)]
                m23 = values[unsigned(11 * per_image + t)]
                m30 = values[unsigned(12 * per_image + t)]
                m31 = values[unsigned(13 * per_image + t)]
                m32 = values[unsigned(14 * per_image + t)]
                m33 = values[unsigned(15 * per_image + t)]
                a0, b0 = m00 + m10 + m20, m10 - m20 - m30
                a1, b1 = m01 + m11 + m21, m11 - m21 - m31
                a2, b2 = m02 + m12 + m22, m12 - m22 - m32
                a3, b3 = m03 + m13 + m23, m13 - m23 - m33
                row0[2 * tx] = (a0 + a1 + a2) + b
                row0[2 * tx + 1] = (a1 - a2 - a3) + b
                row1[2 * tx] = (b0 + b1 + b2) + b
                row1[2 * tx + 1] = (b1 - b2 - b3) + b
            y = 2 * ty
            for x in range(out_width):
                images[unsigned(image + y * out_width + x)] = row0[x]
            if y + 1 < out_height:
                for x in range(out_width):
                    images[unsigned(image + (y + 1) * out_width + x)] = row1[x]
