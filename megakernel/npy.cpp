// The .npy format, version 1.0: the magic "\x93NUMPY", the version bytes 1 0, a little-endian uint16
// header length, then a Python dict literal (descr, fortran_order, shape) padded with spaces and ended
// by a newline, then the raw elements.
#include "amk/megakernel/npy.h"

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace amk::megakernel {

static_assert(std::endian::native == std::endian::little, "the .npy writer stores host floats as '<f4'");

std::string npyFloat32(std::span<const float> values, const std::vector<int64_t> &shape) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i)
    dims += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
  if (shape.size() == 1)
    dims += ","; // a Python 1-tuple: (3,)
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  const size_t prefix = 10; // magic (6), version (2), header length (2)
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  const auto length = static_cast<uint16_t>(header.size());
  std::string file = "\x93NUMPY";
  file += '\x01';
  file += '\x00';
  file += static_cast<char>(length & 0xff);
  file += static_cast<char>(length >> 8);
  file += header;
  const size_t dataStart = file.size();
  file.resize(dataStart + values.size() * sizeof(float));
  if (!values.empty())
    std::memcpy(file.data() + dataStart, values.data(), values.size() * sizeof(float));
  return file;
}

std::optional<Error> writeNpyFloat32(const std::string &path, std::span<const float> values,
                                     const std::vector<int64_t> &shape) {
  int64_t elements = 1;
  for (int64_t d : shape)
    elements *= d;
  if (elements != static_cast<int64_t>(values.size()))
    return Error(path, "cannot write " + std::to_string(values.size()) + " values as an array of " +
                           std::to_string(elements) + " elements");
  const std::string bytes = npyFloat32(values, shape);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return Error(path, std::string("cannot open for writing: ") + std::strerror(errno));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out)
    return Error(path, std::string("write failed: ") + std::strerror(errno));
  return std::nullopt;
}

} // namespace amk::megakernel
