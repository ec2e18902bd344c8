// Linux persistence locations: which mechanism a path belongs to (systemd, cron, at, rc, profile,
// ld_preload, authorized_keys, sudoers, udev), and the inventory of the files in those locations
// at start. The eBPF source turns file events on these paths into persistence events.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::agent::persistence {

// The mechanism a path belongs to, or "" when it is not a persistence location.
std::string_view Mechanism(std::string_view path);

struct Item {
  std::string path;
  std::string mechanism;
};

// Every regular file (or symlink) in the persistence locations, home directories included.
// Bounded: at most max_items entries.
std::vector<Item> Inventory(std::size_t max_items = 20000);

}  // namespace vigil::agent::persistence
