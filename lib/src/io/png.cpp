// PNG encoding (filter 0 on every row, zlib deflate) and image tiling.
#include "paramkit/io/png.h"

#include <fmt/format.h>
#include <zlib.h>

#include "paramkit/core/error.h"
#include "paramkit/io/atomic_file.h"

namespace paramkit {

namespace {
void put32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xff));
}
void chunk(std::string& out, const char* type, const std::string& data) {
  put32(out, static_cast<uint32_t>(data.size()));
  std::string body(type, 4);
  body += data;
  out += body;
  put32(out, static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
}
}  // namespace

std::string encode_png(const Image8& im) {
  if (im.width <= 0 || im.height <= 0 || (im.channels != 1 && im.channels != 3) || im.width > (1 << 24) || im.height > (1 << 24))
    throw Error(fmt::format("PNG: cannot encode a {}x{} image with {} channels", im.width, im.height, im.channels));
  const size_t row = static_cast<size_t>(im.width * im.channels);
  if (im.pixels.size() != row * static_cast<size_t>(im.height)) throw Error("PNG: pixel count does not match the image size");
  std::string raw;
  raw.reserve((row + 1) * static_cast<size_t>(im.height));
  for (int64_t y = 0; y < im.height; ++y) {
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char*>(im.pixels.data()) + static_cast<size_t>(y) * row, row);
  }
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string z(size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(z.data()), &size, reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()), 6) != Z_OK)
    throw Error("PNG: deflate failed");
  z.resize(size);
  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  put32(ihdr, static_cast<uint32_t>(im.width));
  put32(ihdr, static_cast<uint32_t>(im.height));
  ihdr += std::string{'\x08', im.channels == 1 ? '\x00' : '\x02', '\0', '\0', '\0'};
  chunk(out, "IHDR", ihdr);
  chunk(out, "IDAT", z);
  chunk(out, "IEND", "");
  return out;
}

void write_png(const std::filesystem::path& path, const Image8& image) {
  write_file_atomic(path, encode_png(image));
}

Image8 tile_images(const std::vector<uint8_t>& planar, int64_t count, int64_t channels, int64_t height, int64_t width, int64_t cols,
                   int64_t pad, uint8_t background) {
  if (count <= 0 || cols <= 0 || height <= 0 || width <= 0 || pad < 0 || (channels != 1 && channels != 3))
    throw Error("image grid: need at least one image of 1 or 3 channels and a positive column count");
  if (planar.size() != static_cast<size_t>(count * channels * height * width)) throw Error("image grid: pixel count does not match");
  cols = std::min(cols, count);
  const int64_t rows = (count + cols - 1) / cols;
  Image8 g;
  g.channels = channels;
  g.width = cols * width + (cols + 1) * pad;
  g.height = rows * height + (rows + 1) * pad;
  g.pixels.assign(static_cast<size_t>(g.width * g.height * channels), background);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t x0 = pad + (i % cols) * (width + pad), y0 = pad + (i / cols) * (height + pad);
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t y = 0; y < height; ++y)
        for (int64_t x = 0; x < width; ++x)
          g.pixels[static_cast<size_t>(((y0 + y) * g.width + x0 + x) * channels + c)] =
              planar[static_cast<size_t>(((i * channels + c) * height + y) * width + x)];
  }
  return g;
}

}  // namespace paramkit
