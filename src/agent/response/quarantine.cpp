#include "agent/response/quarantine.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/fd.hpp"
#include "common/pki/pki.hpp"
#include "common/sha256.hpp"
#include "common/time.hpp"
#include "common/zstd.hpp"

namespace vigil::agent::response {
namespace {

using nlohmann::json;

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

std::int64_t Ns(const timespec& t) { return t.tv_sec * 1'000'000'000LL + t.tv_nsec; }
timespec Ts(std::int64_t ns) {
  return {static_cast<time_t>(ns / 1'000'000'000LL), static_cast<long>(ns % 1'000'000'000LL)};
}

Result<void> WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(Errno("write " + path));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<std::string> ReadAll(int fd, std::uint64_t size, const std::string& path) {
  std::string out(size, '\0');
  std::size_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(fd, out.data() + got, size - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(Errno("read " + path));
    }
    if (n == 0) return Fail(path + " shrank while it was read");
    got += static_cast<std::size_t>(n);
  }
  return out;
}

bool ValidId(const std::string& id) {
  return id.size() == 24 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

Quarantine::Quarantine(std::filesystem::path vault) : vault_(std::move(vault)) {}

Result<void> Quarantine::EnsureVault() {
  std::error_code ec;
  std::filesystem::create_directories(vault_, ec);
  if (ec) return Fail("cannot create " + vault_.string() + ": " + ec.message());
  if (::chown(vault_.c_str(), 0, 0) != 0 && geteuid() == 0)
    return Fail(Errno("chown " + vault_.string()));
  if (::chmod(vault_.c_str(), 0700) != 0) return Fail(Errno("chmod " + vault_.string()));
  return {};
}

Result<json> Quarantine::Add(const std::string& path, std::uint64_t max_bytes) {
  if (path.empty() || path[0] != '/') return Fail("quarantine needs an absolute path");
  if (auto r = EnsureVault(); !r) return std::unexpected(r.error());
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!fd) return Fail(Errno("cannot open " + path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Fail(Errno("stat " + path));
  if (!S_ISREG(st.st_mode)) return Fail(path + " is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
    return Fail(path + " is larger than " + std::to_string(max_bytes) + " bytes");
  auto bytes = ReadAll(fd.get(), static_cast<std::uint64_t>(st.st_size), path);
  if (!bytes) return std::unexpected(bytes.error());
  unsigned char rnd[12];
  RAND_bytes(rnd, sizeof rnd);
  const std::string id = ToHex(rnd, sizeof rnd);
  json meta{{"id", id},
            {"path", path},
            {"sha256", Sha256Hex(*bytes)},
            {"size", st.st_size},
            {"uid", st.st_uid},
            {"gid", st.st_gid},
            {"mode", st.st_mode & 07777},
            {"atime_ns", Ns(st.st_atim)},
            {"mtime_ns", Ns(st.st_mtim)},
            {"quarantined", FormatRfc3339(NowNs())}};
  const auto bin = vault_ / (id + ".bin");
  {
    UniqueFd out(::open(bin.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400));
    if (!out) return Fail(Errno("cannot create " + bin.string()));
    if (auto w = WriteAll(out.get(), ZstdCompress(*bytes, 3), bin.string()); !w)
      return std::unexpected(w.error());
    if (::fsync(out.get()) != 0) return Fail(Errno("fsync " + bin.string()));
  }
  if (auto w = pki::WriteFileAtomic(vault_ / (id + ".json"), meta.dump(2) + "\n", 0400); !w) {
    ::unlink(bin.c_str());
    return std::unexpected(w.error());
  }
  // Remove the original only if the path still names the file we copied.
  struct stat now {};
  if (::lstat(path.c_str(), &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
    ::unlink(bin.c_str());
    ::unlink((vault_ / (id + ".json")).c_str());
    return Fail(path + " was replaced while it was quarantined; nothing done");
  }
  if (::unlink(path.c_str()) != 0) {
    std::string e = Errno("cannot remove " + path);
    ::unlink(bin.c_str());
    ::unlink((vault_ / (id + ".json")).c_str());
    return Fail(e);
  }
  return meta;
}

Result<json> Quarantine::List() {
  json entries = json::array();
  std::error_code ec;
  if (!std::filesystem::exists(vault_, ec)) return json{{"entries", entries}};
  for (const auto& e : std::filesystem::directory_iterator(vault_, ec)) {
    if (e.path().extension() != ".json") continue;
    auto text = pki::ReadFile(e.path());
    if (!text) continue;
    try {
      entries.push_back(json::parse(*text));
    } catch (const std::exception&) {
    }
  }
  std::sort(entries.begin(), entries.end(), [](const json& a, const json& b) {
    return a.value("quarantined", "") < b.value("quarantined", "");
  });
  return json{{"entries", entries}};
}

Result<json> Quarantine::Restore(const std::string& id) {
  if (!ValidId(id)) return Fail("'" + id + "' is not a vault id");
  auto text = pki::ReadFile(vault_ / (id + ".json"));
  if (!text) return Fail("no entry " + id + " in the quarantine vault");
  json meta;
  try {
    meta = json::parse(*text);
  } catch (const std::exception& e) {
    return Fail("vault entry " + id + ": " + e.what());
  }
  const std::string path = meta.value("path", "");
  const auto size = meta.value("size", std::uint64_t{0});
  auto packed = pki::ReadFile(vault_ / (id + ".bin"));
  if (!packed) return std::unexpected(packed.error());
  auto bytes = ZstdDecompress(*packed, size, size);
  if (!bytes) return Fail("vault entry " + id + " is damaged: " + bytes.error().message);
  if (Sha256Hex(*bytes) != meta.value("sha256", ""))
    return Fail("vault entry " + id + " does not match its sha256; not restored");
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return Fail(path + " exists; not overwritten");
  const std::string tmp = path + ".vigil-restore";
  {
    UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!out) return Fail(Errno("cannot create " + tmp));
    auto fail = [&](std::string e) {
      ::unlink(tmp.c_str());
      return Fail(std::move(e));
    };
    if (auto w = WriteAll(out.get(), *bytes, tmp); !w) return fail(w.error().message);
    if (::fchown(out.get(), meta.value("uid", 0u), meta.value("gid", 0u)) != 0)
      return fail(Errno("chown " + path));
    if (::fchmod(out.get(), meta.value("mode", 0600u)) != 0) return fail(Errno("chmod " + path));
    timespec times[2] = {Ts(meta.value("atime_ns", std::int64_t{0})),
                         Ts(meta.value("mtime_ns", std::int64_t{0}))};
    if (::futimens(out.get(), times) != 0) return fail(Errno("set times of " + path));
    if (::fsync(out.get()) != 0) return fail(Errno("fsync " + path));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string e = Errno("rename to " + path);
    ::unlink(tmp.c_str());
    return Fail(e);
  }
  ::unlink((vault_ / (id + ".bin")).c_str());
  ::unlink((vault_ / (id + ".json")).c_str());
  return json{{"restored", path}, {"sha256", meta.value("sha256", "")}};
}

Result<json> Quarantine::Delete(const std::string& id) {
  if (!ValidId(id)) return Fail("'" + id + "' is not a vault id");
  auto bin = vault_ / (id + ".bin"), meta = vault_ / (id + ".json");
  std::error_code ec;
  if (!std::filesystem::exists(meta, ec))
    return Fail("no entry " + id + " in the quarantine vault");
  std::filesystem::remove(bin, ec);
  std::filesystem::remove(meta, ec);
  return json{{"deleted", id}};
}

}  // namespace vigil::agent::response
