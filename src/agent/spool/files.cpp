// Small file helpers for the spool (see files.hpp).
#include "agent/spool/files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fd.hpp"

namespace vigil::agent::spool_internal {

std::string ErrnoMessage(std::string_view what, const std::filesystem::path& path, int err) {
  std::string m = "spool: ";
  m += what;
  m += ' ';
  m += path.string();
  m += ": ";
  m += std::strerror(err);
  return m;
}

Result<void> WriteFileAtomic(const std::filesystem::path& dir, std::string_view name,
                             std::string_view content, bool sync) {
  const auto final_path = dir / std::string(name);
  auto tmp_path = final_path;
  tmp_path += ".tmp";
  UniqueFd fd(::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return Fail(ErrnoMessage("creating", tmp_path, errno));
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t w = ::write(fd.get(), content.data() + done, content.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int err = errno;
      ::unlink(tmp_path.c_str());
      return Fail(ErrnoMessage("writing", tmp_path, err));
    }
    done += static_cast<std::size_t>(w);
  }
  if (sync && ::fdatasync(fd.get()) != 0) {
    int err = errno;
    ::unlink(tmp_path.c_str());
    return Fail(ErrnoMessage("syncing", tmp_path, err));
  }
  fd.Reset();
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp_path.c_str());
    return Fail(ErrnoMessage("renaming", tmp_path, err));
  }
  if (sync) return SyncDir(dir);
  return {};
}

Result<std::optional<std::string>> ReadSmallFile(const std::filesystem::path& path,
                                                 std::size_t max_size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Fail(ErrnoMessage("opening", path, errno));
  }
  std::string out(max_size, '\0');
  std::size_t got = 0;
  while (got < max_size) {
    ssize_t r = ::read(fd.get(), out.data() + got, max_size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Fail(ErrnoMessage("reading", path, errno));
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return std::optional<std::string>(std::move(out));
}

Result<void> SyncDir(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Fail(ErrnoMessage("opening directory", dir, errno));
  if (::fsync(fd.get()) != 0) return Fail(ErrnoMessage("syncing directory", dir, errno));
  return {};
}

}  // namespace vigil::agent::spool_internal
