// Helpers of the scanner tests: temporary trees, rule files, running a scan and collecting its
// events, and a fake clock.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "agent/scan/file_scanner.hpp"
#include "agent/scan/memory_scanner.hpp"
#include "agent/scan/rule_set.hpp"

namespace vigil::agent::scan::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "vigil-scan-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void WriteFile(const std::filesystem::path& p, const std::string& content) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

inline std::shared_ptr<const RuleSet> Rules(const std::string& text) {
  auto r = RuleSet::FromString(text);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : nullptr;
}

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start) : now_(start) {}
  TimePoint Now() const override { return now_; }
  bool SleepUntil(TimePoint t, ScanControl& control) const override {
    sleeps.push_back(t);
    if (t > now_) now_ = t;
    return !control.cancelled();
  }
  void Advance(std::chrono::seconds s) { now_ += s; }
  mutable std::vector<TimePoint> sleeps;

 private:
  mutable TimePoint now_;
};

inline FileScanOptions Uncapped(std::vector<std::string> paths) {
  FileScanOptions o;
  o.walk.paths = std::move(paths);
  o.governor.cpu_percent = 0;
  o.governor.idle_io = false;
  o.governor.nice = false;
  o.splay_random = 0;
  return o;
}

struct Collected {
  std::vector<v1::Event> events;
  ScanSummary summary;
};

inline Collected ScanFiles(std::shared_ptr<const RuleSet> rules, FileScanOptions options) {
  Collected c;
  ScanControl control;
  SystemClock clock;
  FileScanner scanner(std::move(rules), std::move(options),
                      ScanContext{"test", "", "h", "host", "b"});
  auto s = scanner.Run(control, clock, [&](const v1::Event& e) { c.events.push_back(e); }, {});
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
  if (s) c.summary = *s;
  return c;
}

}  // namespace vigil::agent::scan::testing
