// PNG output for sample grids (8-bit grey or RGB, no interlace), and the tiling of equally sized images
// into one grid. No image library: zlib's deflate and CRC.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace paramkit {

struct Image8 {
  int64_t width = 0, height = 0, channels = 1;  // channels 1 (grey) or 3 (RGB)
  std::vector<uint8_t> pixels;                  // row-major, interleaved channels
};

// The bytes of a PNG file; paramkit::Error for an empty image or channels other than 1 and 3.
std::string encode_png(const Image8& image);
// Writes atomically.
void write_png(const std::filesystem::path& path, const Image8& image);

// `count` images of channels x height x width (planar, C order, as tensors hold them) tiled row by row,
// `cols` per row, with `pad` pixels of `background` between them and around the grid.
Image8 tile_images(const std::vector<uint8_t>& planar, int64_t count, int64_t channels, int64_t height, int64_t width, int64_t cols,
                   int64_t pad = 2, uint8_t background = 255);

}  // namespace paramkit
