// Directory walk for file scans; see file_walker.hpp.
#include "agent/scan/file_walker.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <set>
#include <string_view>
#include <utility>

#include "common/fd.hpp"

namespace vigil::agent::scan {
namespace {

constexpr int kMaxDepth = 256;

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

std::int64_t Ns(const timespec& ts) { return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec; }

bool UnderPseudoRoot(std::string_view path) {
  for (std::string_view root : {"/proc", "/sys", "/dev"}) {
    if (path == root) return true;
    if (path.size() > root.size() && path.starts_with(root) && path[root.size()] == '/')
      return true;
  }
  return false;
}

bool IsPseudoFs(int dir_fd) {
  struct statfs sfs {};
  if (fstatfs(dir_fd, &sfs) != 0) return false;
  switch (static_cast<unsigned long>(sfs.f_type)) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEVPTS_SUPER_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case SECURITYFS_MAGIC:
    case BPF_FS_MAGIC:
    case 0x62656570:  // configfs
    case 0x6e736673:  // nsfs
      return true;
    default:
      return false;
  }
}

std::string Join(const std::string& dir, const char* name) {
  return dir == "/" ? "/" + std::string(name) : dir + "/" + name;
}

class Walker {
 public:
  Walker(const WalkOptions& options, WalkResult& out) : options_(options), out_(out) {}

  void Root(const std::string& path) {
    if (UnderPseudoRoot(path)) {
      ++out_.stats.special;
      return;
    }
    if (IsExcluded(path, options_.excludes)) {
      ++out_.stats.excluded;
      return;
    }
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
      ++out_.stats.errors;
      return;
    }
    if (S_ISLNK(st.st_mode)) {
      ++out_.stats.symlinks;
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) {
        ++out_.stats.errors;
        return;
      }
      root_dev_ = st.st_dev;
      Dir(std::move(fd), path, st, 0);
    } else {
      File(path, st);
    }
  }

 private:
  void File(const std::string& path, const struct stat& st) {
    if (!S_ISREG(st.st_mode)) {
      ++out_.stats.special;
      return;
    }
    if (options_.max_size && static_cast<std::uint64_t>(st.st_size) > options_.max_size) {
      ++out_.stats.too_large;
      return;
    }
    out_.files.push_back(FileEntry{path, st.st_dev, st.st_ino,
                                   static_cast<std::uint64_t>(st.st_size), Ns(st.st_mtim),
                                   Ns(st.st_ctim)});
    out_.stats.bytes += static_cast<std::uint64_t>(st.st_size);
  }

  void Dir(UniqueFd fd, const std::string& path, const struct stat& st, int depth) {
    if (!seen_dirs_.insert({st.st_dev, st.st_ino}).second) return;  // bind mounts, overlaps
    if (depth > kMaxDepth || IsPseudoFs(fd.get())) {
      ++out_.stats.special;
      return;
    }
    ++out_.stats.directories;
    DirPtr dir(fdopendir(fd.get()));
    if (!dir) {
      ++out_.stats.errors;
      return;
    }
    fd.release();  // owned by dir now
    const int dfd = dirfd(dir.get());
    std::vector<std::pair<std::string, struct stat>> subdirs;
    while (dirent* e = readdir(dir.get())) {
      const std::string_view name(e->d_name);
      if (name == "." || name == "..") continue;
      std::string child = Join(path, e->d_name);
      if (UnderPseudoRoot(child)) {
        ++out_.stats.special;
        continue;
      }
      if (IsExcluded(child, options_.excludes)) {
        ++out_.stats.excluded;
        continue;
      }
      struct stat cst {};
      if (fstatat(dfd, e->d_name, &cst, AT_SYMLINK_NOFOLLOW) != 0) {
        ++out_.stats.errors;
        continue;
      }
      if (S_ISLNK(cst.st_mode)) {
        ++out_.stats.symlinks;
      } else if (S_ISDIR(cst.st_mode)) {
        if (options_.one_fs && cst.st_dev != root_dev_) {
          ++out_.stats.other_fs;
          continue;
        }
        subdirs.emplace_back(std::move(child), cst);
      } else {
        File(child, cst);
      }
    }
    for (auto& [child, cst] : subdirs) {
      const auto name = child.substr(child.rfind('/') + 1);
      UniqueFd cfd(::openat(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!cfd) {
        ++out_.stats.errors;
        continue;
      }
      struct stat now {};
      // The directory must be the one that was listed (no swap for a symlink or another dir).
      if (fstat(cfd.get(), &now) != 0 || now.st_dev != cst.st_dev || now.st_ino != cst.st_ino) {
        ++out_.stats.errors;
        continue;
      }
      Dir(std::move(cfd), child, now, depth + 1);
    }
  }

  const WalkOptions& options_;
  WalkResult& out_;
  dev_t root_dev_ = 0;
  std::set<std::pair<dev_t, ino_t>> seen_dirs_;
};

std::string Normalize(const std::string& path) {
  // Roots given by the user are resolved once (so /lib -> /usr/lib works); nothing below them is.
  std::unique_ptr<char, decltype(&free)> real(realpath(path.c_str(), nullptr), &free);
  return real ? std::string(real.get()) : path;
}

}  // namespace

// openat2 RESOLVE_NO_SYMLINKS; O_NOFOLLOW (last component only) on kernels without openat2.
UniqueFd OpenNoFollow(const std::string& path) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const long fd = ::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  if (errno != ENOSYS) return UniqueFd();
  return UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK));
}

bool IsExcluded(const std::string& path, const std::vector<std::string>& excludes) {
  if (excludes.empty()) return false;
  const auto slash = path.rfind('/');
  const char* base = path.c_str() + (slash == std::string::npos ? 0 : slash + 1);
  for (const auto& glob : excludes) {
    if (fnmatch(glob.c_str(), path.c_str(), 0) == 0) return true;
    if (fnmatch(glob.c_str(), base, 0) == 0) return true;
  }
  return false;
}

Result<WalkResult> WalkFiles(const WalkOptions& options) {
  WalkResult out;
  Walker walker(options, out);
  bool any = false;
  for (const auto& pattern : options.paths) {
    std::vector<std::string> roots;
    if (pattern.find_first_of("*?[") != std::string::npos) {
      glob_t g{};
      if (glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) roots.emplace_back(g.gl_pathv[i]);
      }
      globfree(&g);
      std::sort(roots.begin(), roots.end());
    } else {
      roots.push_back(pattern);
    }
    for (const auto& root : roots) {
      struct stat st {};
      if (lstat(root.c_str(), &st) != 0) continue;
      any = true;
      walker.Root(Normalize(root));
    }
  }
  if (!any) return Fail("no such file or directory: none of the scan paths exist");
  return out;
}

}  // namespace vigil::agent::scan
