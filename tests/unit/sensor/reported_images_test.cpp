// Tests of ReportedImages: what a process's last record reported, told apart from an earlier
// process with the same pid, kept a while after exit, and bounded.
#include "agent/sensor/reported_images.hpp"

#include <gtest/gtest.h>

namespace vigil::agent {
namespace {

TEST(ReportedImages, TheLastRecordOfTheSameProcessWins) {
  ReportedImages images(16);
  images.Reported(100, 7, "/usr/bin/dash", "/home/a");
  images.Reported(100, 7, "/usr/bin/python3.11", "/srv");
  const auto* image = images.Find(100, 7);
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->executable, "/usr/bin/python3.11");
  EXPECT_EQ(image->working_directory, "/srv");
}

TEST(ReportedImages, AnotherProcessWithThePidIsNotFoundAndItsExitKeepsTheEntry) {
  ReportedImages images(16);
  images.Reported(100, 7, "/usr/bin/dash", "/home/a");
  EXPECT_EQ(images.Find(100, 8), nullptr);
  images.Exited(100, 8);  // an exit of a later process with pid 100 (its fork was not seen)
  ASSERT_NE(images.Find(100, 7), nullptr);
  images.Exited(100, 7);
  EXPECT_EQ(images.size(), 0u);
}

// A vfork parent may exit before its child's exec record is read: the exited process is still
// found for a while (the newest kRecentExits), then forgotten. A process one of whose records was
// lost is forgotten at once.
TEST(ReportedImages, AnExitedProcessIsFoundAWhileLonger) {
  ReportedImages images(1024);
  images.Reported(100, 7, "/usr/bin/dash", "/home/a");
  images.Exited(100, 7);
  const auto* image = images.Find(100, 7);
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->working_directory, "/home/a");
  EXPECT_EQ(images.Find(100, 8), nullptr);  // a later process with that pid is another one
  for (std::uint32_t pid = 1000; pid < 1000 + ReportedImages::kRecentExits; ++pid) {
    images.Reported(pid, 1, "/bin/true", "/");
    images.Exited(pid, 1);
  }
  EXPECT_EQ(images.Find(100, 7), nullptr);
  EXPECT_NE(images.Find(1000 + ReportedImages::kRecentExits - 1, 1), nullptr);
  images.Reported(200, 3, "/bin/sh", "/tmp");
  images.Forget(200, 3);
  EXPECT_EQ(images.Find(200, 3), nullptr);
}

TEST(ReportedImages, PastItsCapacityItStartsOverAndCountsIt) {
  ReportedImages images(3);
  for (std::uint32_t pid = 1; pid <= 3; ++pid) images.Reported(pid, 1, "/bin/x", "/");
  images.Reported(2, 1, "/bin/y", "/tmp");  // an update of a known process is no growth
  EXPECT_EQ(images.restarts(), 0u);
  EXPECT_EQ(images.Find(2, 1)->executable, "/bin/y");
  images.Reported(4, 1, "/bin/z", "/opt");
  EXPECT_EQ(images.restarts(), 1u);
  EXPECT_EQ(images.size(), 1u);
  EXPECT_EQ(images.Find(1, 1), nullptr);
  EXPECT_EQ(images.Find(4, 1)->working_directory, "/opt");
}

}  // namespace
}  // namespace vigil::agent
