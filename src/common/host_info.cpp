#include "common/host_info.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/sha256.hpp"

namespace vigil {
namespace {
std::string FirstLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  return line;
}
}  // namespace

HostInfo ReadHostInfo() {
  HostInfo info;
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  info.hostname = name;
  info.host_id = FirstLine("/etc/machine-id");
  if (info.host_id.empty()) info.host_id = Sha256Hex(info.hostname).substr(0, 32);
  info.boot_id = FirstLine("/proc/sys/kernel/random/boot_id");
  std::ifstream os_release("/etc/os-release");
  std::string line;
  while (std::getline(os_release, line)) {
    if (line.starts_with("PRETTY_NAME=")) {
      info.os = line.substr(12);
      if (info.os.size() >= 2 && info.os.front() == '"')
        info.os = info.os.substr(1, info.os.size() - 2);
    }
  }
  struct utsname uts {};
  if (::uname(&uts) == 0)
    info.os += std::string(info.os.empty() ? "" : ", ") + "kernel " + uts.release;
  return info;
}

}  // namespace vigil
