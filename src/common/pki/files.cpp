// ReadFile and WriteFileAtomic: small-file I/O for keys and certificates. Writes go to a temporary
// file in the same directory (created 0600), are fsynced, get their final mode, and are renamed
// over the target, so a crash never leaves a truncated key or certificate behind.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "common/pki/pki.hpp"

namespace vigil::pki {
namespace {

std::string Errno(int err) { return std::strerror(err); }

// Maximum size of a file read by ReadFile: keys and certificates are a few KiB.
constexpr std::size_t kMaxFileSize = 16 * 1024 * 1024;

}  // namespace

Result<std::string> ReadFile(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Fail("cannot open " + path.string() + " for reading: " + Errno(errno));
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail("cannot read " + path.string() + ": " + Errno(errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxFileSize) {
      return Fail("cannot read " + path.string() + ": larger than " + std::to_string(kMaxFileSize) +
                  " bytes");
    }
  }
  return out;
}

Result<void> WriteFileAtomic(const std::filesystem::path& path, const std::string& content,
                             unsigned mode) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  // mkstemp creates the file 0600, so secrets are never readable by others, even briefly.
  UniqueFd fd(::mkostemp(name.data(), O_CLOEXEC));
  if (!fd) {
    return Fail("cannot create a temporary file in " + dir.string() + " to write " + path.string() +
                ": " + Errno(errno));
  }
  const std::string tmp_path(name.data());
  auto fail = [&](const std::string& what, int err) {
    ::unlink(tmp_path.c_str());
    return Fail("cannot write " + path.string() + ": " + what + ": " + Errno(err));
  };

  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write to " + tmp_path, errno);
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) return fail("fchmod " + tmp_path, errno);
  if (::fsync(fd.get()) != 0) return fail("fsync " + tmp_path, errno);
  if (::close(fd.release()) != 0) return fail("close " + tmp_path, errno);
  if (::rename(tmp_path.c_str(), path.c_str()) != 0) return fail("rename " + tmp_path, errno);

  // Persist the rename itself; failure here is not fatal for correctness of the content.
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
  return {};
}

}  // namespace vigil::pki
