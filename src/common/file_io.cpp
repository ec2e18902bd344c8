// See file_io.hpp.
#include "common/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fd.hpp"

namespace vigil {

Result<std::optional<std::string>> ReadWholeFile(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    return Fail(path.string() + ": " + std::strerror(errno));
  }
  std::string bytes;
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fd.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Fail(path.string() + ": " + std::strerror(errno));
    if (r == 0) break;
    bytes.append(buf, static_cast<std::size_t>(r));
  }
  return bytes;
}

Result<void> WriteFileAtomic(const std::filesystem::path& path, std::string_view bytes) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  const auto tmp = path.string() + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return Fail(tmp + ": " + std::strerror(errno));
  for (std::size_t off = 0; off < bytes.size();) {
    const ssize_t w = ::write(fd.get(), bytes.data() + off, bytes.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Fail(tmp + ": write: " + std::strerror(errno));
    off += static_cast<std::size_t>(w);
  }
  if (::fsync(fd.get()) != 0) return Fail(tmp + ": fsync: " + std::strerror(errno));
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return Fail(path.string() + ": rename: " + std::strerror(errno));
  return {};
}

}  // namespace vigil
