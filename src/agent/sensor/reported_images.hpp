// The executable and working directory that each process's last exec or fork record reported: the
// user-space half of the sensor's `processes` map (bpf/sensor.bpf.c). A fork record flagged
// VG_FORK_IMAGE_OF_PARENT leaves its paths out because the kernel saw the child run what the
// parent's last record reported; this says what that was. Bounded: past `capacity` processes it
// starts over, and such forks go without paths until their parent's next record (the enricher then
// fills in the executable from its process table). Also an exec's working directory when the
// kernel saw it unchanged since the process's last record (VG_EXEC_CWD_AS_REPORTED).
// An exited process is remembered a little longer (the last kRecentExits): a vfork parent is woken
// when its child's exec switches memory, before the exec's record is written, and may exit first —
// the child's exec, folded with its fork, then takes the working directory of a process whose exit
// was already read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/recent_exits.hpp"

namespace vigil::agent {

class ReportedImages {
 public:
  struct Image {
    std::uint64_t start_ticks = 0;  // of the process, telling a reused pid apart
    std::string executable;
    std::string working_directory;
  };

  explicit ReportedImages(std::size_t capacity) : capacity_(capacity) {}

  // Remembers what process tgid's record reported and returns it. The paths may be views of
  // another entry's (a fork of its parent's image).
  const Image& Reported(std::uint32_t tgid, std::uint64_t start_ticks, std::string_view executable,
                        std::string_view working_directory) {
    if (images_.size() >= capacity_ && !images_.contains(tgid)) {
      Image image{start_ticks, std::string(executable), std::string(working_directory)};
      images_.clear();
      ++restarts_;
      return images_[tgid] = std::move(image);
    }
    Image& image = images_[tgid];  // (a rehash keeps references to other entries valid)
    image.start_ticks = start_ticks;
    image.executable.assign(executable);
    image.working_directory.assign(working_directory);
    return image;
  }

  // What process tgid (started at start_ticks) last reported, or nullptr; also for a process that
  // exited among the last kRecentExits.
  const Image* Find(std::uint32_t tgid, std::uint64_t start_ticks) const {
    auto it = images_.find(tgid);
    if (it != images_.end() && it->second.start_ticks == start_ticks) return &it->second;
    return recent_exits_.Find(tgid, start_ticks);
  }

  // The process ended: found a little longer (the newest kRecentExits), then forgotten.
  void Exited(std::uint32_t tgid, std::uint64_t start_ticks) {
    auto it = images_.find(tgid);
    if (it == images_.end() || it->second.start_ticks != start_ticks) return;
    recent_exits_.Add(tgid, std::move(it->second));
    images_.erase(it);
  }

  // What the process reported can no longer be trusted (one of its records was lost): forgotten
  // at once.
  void Forget(std::uint32_t tgid, std::uint64_t start_ticks) {
    auto it = images_.find(tgid);
    if (it != images_.end() && it->second.start_ticks == start_ticks) images_.erase(it);
  }

  static constexpr std::size_t kRecentExits = 256;

  std::size_t size() const { return images_.size(); }
  std::uint64_t restarts() const { return restarts_; }

 private:
  std::size_t capacity_;
  std::unordered_map<std::uint32_t, Image> images_;
  RecentExits<Image> recent_exits_{kRecentExits};
  std::uint64_t restarts_ = 0;
};

}  // namespace vigil::agent
