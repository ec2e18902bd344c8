// Selects the files of a file scan: expands path globs, walks directories with openat and
// O_NOFOLLOW (symlinks are never followed, so a walk never leaves its tree), prunes excluded
// paths, /proc, /sys, /dev and other pseudo file systems, optionally stays on the root's file
// system, and keeps regular files up to a maximum size with the identity taken from lstat.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace vigil::agent::scan {

struct WalkOptions {
  std::vector<std::string> paths;     // files, directories or glob patterns
  std::vector<std::string> excludes;  // fnmatch globs against the full path or the base name
  std::uint64_t max_size = 0;         // bytes; 0 = no limit
  bool one_fs = false;                // do not cross into other file systems below a root
};

struct FileEntry {
  std::string path;
  dev_t dev = 0;
  ino_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
};

struct WalkStats {
  std::uint64_t directories = 0;
  std::uint64_t excluded = 0;   // files and directories pruned by an exclude glob
  std::uint64_t too_large = 0;  // files above max_size
  std::uint64_t symlinks = 0;   // not followed
  std::uint64_t special = 0;    // devices, fifos, sockets; and pseudo file system mounts
  std::uint64_t other_fs = 0;   // mounts not entered because of one_fs
  std::uint64_t errors = 0;     // directories or entries that could not be read
  std::uint64_t bytes = 0;      // total size of the files kept
};

struct WalkResult {
  std::vector<FileEntry> files;
  WalkStats stats;
};

// Fails only when no path (after glob expansion) exists; unreadable parts are counted.
Result<WalkResult> WalkFiles(const WalkOptions& options);

// Opens a regular file for reading without following any symlink in its path and without
// blocking on a FIFO swapped in (an invalid fd and errno on failure).
UniqueFd OpenNoFollow(const std::string& path);

// Whether path matches one of the exclude globs (exposed for tests).
bool IsExcluded(const std::string& path, const std::vector<std::string>& excludes);

}  // namespace vigil::agent::scan
