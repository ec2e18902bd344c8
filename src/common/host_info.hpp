// Facts about the local host: machine id, boot id, hostname, OS description.
#pragma once

#include <string>

namespace vigil {

struct HostInfo {
  std::string host_id;  // /etc/machine-id (or a hash of the hostname when missing)
  std::string boot_id;  // /proc/sys/kernel/random/boot_id
  std::string hostname;
  std::string os;  // PRETTY_NAME from /etc/os-release plus the kernel release
};

HostInfo ReadHostInfo();

}  // namespace vigil
