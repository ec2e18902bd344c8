#include "agent/response/exec_block.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "agent/enrich/hash_cache.hpp"
#include "common/log.hpp"
#include "common/pki/pki.hpp"
#include "common/time.hpp"

namespace vigil::agent::response {
namespace {

using nlohmann::json;

// Filesystems nothing is executed from (or that refuse marks): not marked.
bool Skipped(const std::string& fstype) {
  static const std::set<std::string> skip{
      "proc",    "sysfs",     "cgroup", "cgroup2",  "devpts",     "securityfs", "debugfs",
      "tracefs", "bpf",       "pstore", "mqueue",   "configfs",   "fusectl",    "binfmt_misc",
      "autofs",  "hugetlbfs", "nsfs",   "efivarfs", "rpc_pipefs", "selinuxfs"};
  return skip.contains(fstype);
}

// "\040" style escapes of /proc/self/mountinfo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s.find_first_not_of("01234567", i + 1) >= i + 4) {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// (mount point, fstype) of every mount.
std::vector<std::pair<std::string, std::string>> Mounts() {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string id, parent, devno, root, point, word;
    words >> id >> parent >> devno >> root >> point;
    while (words >> word && word != "-") {
    }
    std::string fstype;
    words >> fstype;
    out.emplace_back(Unescape(point), fstype);
  }
  return out;
}

// Bounds the inodes pinned by ignore marks (and stays under fs.fanotify.max_user_marks).
constexpr std::uint64_t kMaxAllowMarks = 8192;

bool IsSha256(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

ExecBlocker::ExecBlocker(std::filesystem::path state_file, HashCache& hashes,
                         std::function<void(v1::Event&&)> emit)
    : state_file_(std::move(state_file)), hashes_(hashes), emit_(std::move(emit)) {}

ExecBlocker::~ExecBlocker() { Stop(); }

Result<void> ExecBlocker::Start() {
  std::error_code ec;
  if (std::filesystem::exists(state_file_, ec)) {
    auto text = pki::ReadFile(state_file_);
    if (!text) return std::unexpected(text.error());
    try {
      auto j = json::parse(*text);
      std::unique_lock lock(list_mutex_);
      for (const auto& h : j.at("sha256")) blocked_.insert(h.get<std::string>());
    } catch (const std::exception& e) {
      return Fail(state_file_.string() + ": " + e.what());
    }
  }
  std::shared_lock lock(list_mutex_);
  if (blocked_.empty()) return {};
  lock.unlock();
  return EnsureRunning();
}

void ExecBlocker::Stop() { StopThread(); }

Result<void> ExecBlocker::Persist() {
  json list = json::array();
  {
    std::shared_lock lock(list_mutex_);
    for (const auto& h : blocked_) list.push_back(h);
  }
  std::error_code ec;
  std::filesystem::create_directories(state_file_.parent_path(), ec);
  return pki::WriteFileAtomic(state_file_, json{{"sha256", list}}.dump() + "\n", 0600);
}

Result<json> ExecBlocker::Block(const std::vector<std::string>& hashes) {
  for (const auto& h : hashes)
    if (!IsSha256(h)) return Fail("'" + h + "' is not a lower-case SHA-256");
  {
    std::lock_guard control(control_mutex_);
    std::unique_lock lock(list_mutex_);
    blocked_.insert(hashes.begin(), hashes.end());
    // Verdicts given under the old list no longer hold: every file is asked about again.
    if (running_ && ::fanotify_mark(fan_fd_.get(), FAN_MARK_FLUSH, 0, AT_FDCWD, nullptr) == 0) {
      std::lock_guard stats(stats_mutex_);
      stats_.allow_marks = 0;
    }
  }
  if (auto r = Persist(); !r) return std::unexpected(r.error());
  if (auto r = EnsureRunning(); !r) return std::unexpected(r.error());
  std::shared_lock lock(list_mutex_);
  return json{{"blocked", hashes}, {"total", blocked_.size()}, {"marks", marks_.load()}};
}

Result<json> ExecBlocker::Unblock(const std::vector<std::string>& hashes) {
  bool empty;
  {
    std::unique_lock lock(list_mutex_);
    for (const auto& h : hashes) blocked_.erase(h);
    empty = blocked_.empty();
  }
  if (auto r = Persist(); !r) return std::unexpected(r.error());
  if (empty) StopThread();  // nothing to check: no exec waits on the agent any more
  std::shared_lock lock(list_mutex_);
  return json{{"unblocked", hashes}, {"total", blocked_.size()}};
}

ExecBlockStats ExecBlocker::Stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

void ExecBlocker::MarkAllowed(int file_fd) {
  struct stat st {};
  if (::fstat(file_fd, &st) != 0 || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) return;
  // Only local filesystems whose every content change passes through this kernel (a FUSE or
  // network filesystem can serve new content without a modify event).
  struct statfs fs {};
  if (::fstatfs(file_fd, &fs) != 0) return;
  constexpr long kExt4 = 0xEF53, kXfs = 0x58465342, kBtrfs = 0x9123683E, kTmpfs = 0x01021994;
  if (fs.f_type != kExt4 && fs.f_type != kXfs && fs.f_type != kBtrfs && fs.f_type != kTmpfs) return;
  std::lock_guard lock(stats_mutex_);
  if (stats_.allow_marks >= kMaxAllowMarks) return;
  // Without FAN_MARK_IGNORED_SURV_MODIFY the kernel clears this mask when the file is modified.
  if (::fanotify_mark(fan_fd_.get(), FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, FAN_OPEN_EXEC_PERM,
                      file_fd, nullptr) == 0)
    ++stats_.allow_marks;
}

void ExecBlocker::MarkAll() {
  for (const auto& [point, fstype] : Mounts()) {
    if (Skipped(fstype) || marked_.contains(point)) continue;
    if (::fanotify_mark(fan_fd_.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC_PERM,
                        AT_FDCWD, point.c_str()) == 0 ||
        ::fanotify_mark(fan_fd_.get(), FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN_EXEC_PERM, AT_FDCWD,
                        point.c_str()) == 0)
      marked_.insert(point);
    else
      VLOG_DEBUG("exec block: cannot mark {} ({}): {}", point, fstype, std::strerror(errno));
  }
  marks_ = marked_.size();
}

Result<void> ExecBlocker::EnsureRunning() {
  std::lock_guard control(control_mutex_);
  if (running_) return {};
  fan_fd_.Reset(::fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK,
                                O_RDONLY | O_LARGEFILE | O_CLOEXEC));
  if (!fan_fd_) return Fail(std::string("fanotify_init: ") + std::strerror(errno));
  wake_fd_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  marked_.clear();
  {
    std::lock_guard stats(stats_mutex_);
    stats_.allow_marks = 0;  // a new group has no marks
  }
  MarkAll();
  if (marked_.empty()) {
    fan_fd_.Reset();
    return Fail("fanotify: no filesystem could be marked");
  }
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
  VLOG_INFO("exec block: enforcing on {} mounts", marked_.size());
  return {};
}

void ExecBlocker::StopThread() {
  std::lock_guard control(control_mutex_);
  if (!running_.exchange(false)) return;
  std::uint64_t one = 1;
  (void)!::write(wake_fd_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  // Closing the group answers (allows) whatever was still pending.
  fan_fd_.Reset();
  wake_fd_.Reset();
  marked_.clear();
}

void ExecBlocker::Loop() {
  const pid_t self = ::getpid();
  UniqueFd mountinfo(::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
  alignas(fanotify_event_metadata) char buf[64 * 1024];
  struct Denial {
    pid_t pid;
    std::string path, sha256;
  };
  std::vector<Denial> denials;
  while (running_) {
    pollfd fds[3] = {
        {fan_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}, {mountinfo.get(), POLLPRI, 0}};
    if (::poll(fds, mountinfo ? 3 : 2, -1) < 0) {
      if (errno == EINTR) continue;
      VLOG_ERROR("exec block: poll: {}", std::strerror(errno));
      break;
    }
    if (fds[1].revents) break;
    if (mountinfo && (fds[2].revents & (POLLPRI | POLLERR))) {
      MarkAll();  // new mounts are covered too
      char drain[4096];
      ::lseek(mountinfo.get(), 0, SEEK_SET);
      while (::read(mountinfo.get(), drain, sizeof drain) > 0) {
      }
    }
    if (!(fds[0].revents & POLLIN)) continue;
    ssize_t len = ::read(fan_fd_.get(), buf, sizeof buf);
    if (len <= 0) continue;
    ExecBlockStats delta;
    for (auto* md = reinterpret_cast<fanotify_event_metadata*>(buf); FAN_EVENT_OK(md, len);
         md = FAN_EVENT_NEXT(md, len)) {
      if (md->fd < 0) continue;
      UniqueFd file(md->fd);
      if (!(md->mask & FAN_OPEN_EXEC_PERM)) continue;
      bool deny = false;
      std::string hash;
      if (static_cast<pid_t>(md->pid) != self) {
        delta.checked++;
        // Read through the event's fd: fanotify opened it with FMODE_NONOTIFY, no new event.
        if (auto h = hashes_.Sha256(file.get())) {
          // One shared hold for verdict and mark, so a concurrent Block's flush cannot fall
          // between them.
          std::shared_lock lock(list_mutex_);
          deny = blocked_.contains(*h);
          if (deny)
            hash = *h;
          else
            MarkAllowed(file.get());
        } else {
          delta.errors++;
        }
      }
      fanotify_response response{file.get(), static_cast<__u32>(deny ? FAN_DENY : FAN_ALLOW)};
      (void)!::write(fan_fd_.get(), &response, sizeof response);
      if (deny) {
        delta.denied++;
        char path[4096];
        std::string link = "/proc/self/fd/" + std::to_string(file.get());
        ssize_t n = ::readlink(link.c_str(), path, sizeof path - 1);
        denials.push_back({static_cast<pid_t>(md->pid), n > 0 ? std::string(path, n) : "", hash});
      }
    }
    {
      std::lock_guard lock(stats_mutex_);
      stats_.checked += delta.checked;
      stats_.denied += delta.denied;
      stats_.errors += delta.errors;
    }
    // Events only after every exec of the batch got its answer.
    for (auto& d : denials) {
      VLOG_WARN("exec block: denied {} (sha256 {}) to pid {}", d.path, d.sha256, d.pid);
      if (!emit_) continue;
      v1::Event e;
      e.set_timestamp(NowNs());
      e.set_event_category("process");
      e.set_event_type("denied");
      e.set_event_action("exec_denied");
      e.set_event_outcome("failure");
      e.set_event_dataset("vigil.response");
      e.set_process_pid(d.pid);
      e.set_process_executable(d.path);
      e.set_process_name(std::filesystem::path(d.path).filename().string());
      e.set_process_hash_sha256(d.sha256);
      emit_(std::move(e));
    }
    denials.clear();
  }
}

}  // namespace vigil::agent::response
