// The executable and working directory that each process's last exec or fork record reported: the
// user-space half of the sensor's `images` task storage (bpf/sensor.bpf.c). A fork record flagged
// VG_FORK_IMAGE_OF_PARENT leaves its paths out because the kernel saw the child run what the
// parent's last record reported; this says what that was. Bounded: past `capacity` processes it
// starts over, and such forks go without paths until their parent's next record (the enricher then
// fills in the executable from its process table). Also an exec's working directory when the
// kernel saw it unchanged since the process's last record (VG_EXEC_CWD_AS_REPORTED).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

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

  // What process tgid (started at start_ticks) last reported, or nullptr.
  const Image* Find(std::uint32_t tgid, std::uint64_t start_ticks) const {
    auto it = images_.find(tgid);
    return it == images_.end() || it->second.start_ticks != start_ticks ? nullptr : &it->second;
  }

  void Exited(std::uint32_t tgid, std::uint64_t start_ticks) {
    auto it = images_.find(tgid);
    if (it != images_.end() && it->second.start_ticks == start_ticks) images_.erase(it);
  }

  std::size_t size() const { return images_.size(); }
  std::uint64_t restarts() const { return restarts_; }

 private:
  std::size_t capacity_;
  std::unordered_map<std::uint32_t, Image> images_;
  std::uint64_t restarts_ = 0;
};

}  // namespace vigil::agent
