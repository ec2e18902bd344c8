// Persistence locations and inventory; see persistence.hpp.
#include "agent/sensor/persistence.hpp"

#include <array>
#include <filesystem>
#include <set>
#include <system_error>

namespace vigil::agent::persistence {
namespace {

struct Location {
  std::string_view prefix;  // a directory (ends with '/') or a file
  std::string_view mechanism;
};

// Checked in order: the first match wins (at before cron: /var/spool/cron/atjobs).
constexpr std::array kSystem = {
    Location{"/etc/systemd/system/", "systemd"},
    Location{"/etc/systemd/user/", "systemd"},
    Location{"/usr/lib/systemd/system/", "systemd"},
    Location{"/usr/lib/systemd/user/", "systemd"},
    Location{"/lib/systemd/system/", "systemd"},
    Location{"/lib/systemd/user/", "systemd"},
    Location{"/run/systemd/system/", "systemd"},
    Location{"/var/spool/cron/atjobs/", "at"},
    Location{"/var/spool/at/", "at"},
    Location{"/etc/at.allow", "at"},
    Location{"/etc/crontab", "cron"},
    Location{"/etc/cron.d/", "cron"},
    Location{"/etc/cron.hourly/", "cron"},
    Location{"/etc/cron.daily/", "cron"},
    Location{"/etc/cron.weekly/", "cron"},
    Location{"/etc/cron.monthly/", "cron"},
    Location{"/etc/anacrontab", "cron"},
    Location{"/var/spool/cron/", "cron"},
    Location{"/var/spool/anacron/", "cron"},
    Location{"/etc/rc.local", "rc"},
    Location{"/etc/init.d/", "rc"},
    Location{"/etc/profile", "profile"},
    Location{"/etc/bash.bashrc", "profile"},
    Location{"/etc/environment", "profile"},
    Location{"/etc/zsh/", "profile"},
    Location{"/etc/ld.so.preload", "ld_preload"},
    Location{"/etc/sudoers", "sudoers"},
    Location{"/etc/udev/rules.d/", "udev"},
    Location{"/usr/lib/udev/rules.d/", "udev"},
    Location{"/lib/udev/rules.d/", "udev"},
};

// Relative to a home directory.
constexpr std::array kHome = {
    Location{".bashrc", "profile"},
    Location{".profile", "profile"},
    Location{".bash_profile", "profile"},
    Location{".bash_login", "profile"},
    Location{".bash_logout", "profile"},
    Location{".zshrc", "profile"},
    Location{".zprofile", "profile"},
    Location{".ssh/authorized_keys", "authorized_keys"},
    Location{".ssh/authorized_keys2", "authorized_keys"},
    Location{".config/systemd/user/", "systemd"},
    Location{".config/autostart/", "profile"},
};

bool IsRcDir(std::string_view path) {  // /etc/rcN.d/ and /etc/rcS.d/
  return path.size() > 10 && path.starts_with("/etc/rc") && path[8] == '.' && path[9] == 'd' &&
         path[10] == '/';
}

// The home-relative part of /root/X or /home/USER/X, or nullopt-like "" with ok=false.
bool HomeRelative(std::string_view path, std::string_view& rel) {
  if (path.starts_with("/root/")) {
    rel = path.substr(6);
    return true;
  }
  if (path.starts_with("/home/")) {
    auto slash = path.find('/', 6);
    if (slash == std::string_view::npos) return false;
    rel = path.substr(slash + 1);
    return true;
  }
  return false;
}

bool Matches(std::string_view path, std::string_view prefix) {
  if (prefix.ends_with('/')) return path.starts_with(prefix) && path.size() > prefix.size();
  // A file, or a family of files (/etc/profile and /etc/profile.d/..., /etc/sudoers.d/...).
  return path.starts_with(prefix) &&
         (path.size() == prefix.size() || path.substr(prefix.size()).starts_with(".d/"));
}

}  // namespace

std::string_view Mechanism(std::string_view path) {
  for (const auto& l : kSystem) {
    if (Matches(path, l.prefix)) return l.mechanism;
  }
  if (IsRcDir(path)) return "rc";
  std::string_view rel;
  if (HomeRelative(path, rel)) {
    for (const auto& l : kHome) {
      if (Matches(rel, l.prefix)) return l.mechanism;
    }
  }
  return {};
}

std::vector<Item> Inventory(std::size_t max_items) {
  namespace fs = std::filesystem;
  std::vector<Item> items;
  std::error_code ec;
  std::set<std::string> visited;
  auto add_file = [&](const fs::path& p) {
    if (items.size() >= max_items) return;
    std::string s = p.string();
    auto m = Mechanism(s);
    if (m.empty()) return;
    auto st = fs::symlink_status(p, ec);
    if (ec || !(fs::is_regular_file(st) || fs::is_symlink(st))) return;
    items.push_back({std::move(s), std::string(m)});
  };
  // Files of a location: the file itself, or the files below the directory (2 levels: unit
  // .wants/ directories).
  auto add_location = [&](const std::string& where) {
    fs::path p(where);
    if (!where.ends_with('/')) {
      add_file(p);
      fs::path d(where + ".d");
      if (fs::is_directory(d, ec)) {
        for (const auto& ent : fs::directory_iterator(d, ec)) add_file(ent.path());
      }
      return;
    }
    if (!fs::is_directory(p, ec)) return;
    // /lib -> /usr/lib on merged-/usr systems: each directory once.
    if (!visited.insert(fs::canonical(p, ec).string()).second) return;
    for (auto it =
             fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it.depth() > 1) {
        it.disable_recursion_pending();
        continue;
      }
      add_file(it->path());
      if (items.size() >= max_items) return;
    }
  };
  for (const auto& l : kSystem) add_location(std::string(l.prefix));
  for (const auto& ent : fs::directory_iterator("/etc", ec)) {
    if (IsRcDir(ent.path().string() + "/")) add_location(ent.path().string() + "/");
  }
  std::vector<std::string> homes = {"/root/"};
  for (const auto& ent : fs::directory_iterator("/home", ec)) {
    if (ent.is_directory(ec)) homes.push_back(ent.path().string() + "/");
  }
  for (const auto& h : homes) {
    for (const auto& l : kHome) add_location(h + std::string(l.prefix));
  }
  return items;
}

}  // namespace vigil::agent::persistence
