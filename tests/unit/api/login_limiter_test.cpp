// LoginLimiter with an injected clock: free failures, exponential delays per address and per
// user, the cap, success clearing the user, forgetting after a quiet period.
#include "server/api/login_limiter.hpp"

#include <gtest/gtest.h>

namespace vigil::server {
namespace {

constexpr std::int64_t kSec = 1'000'000'000;

class LoginLimiterTest : public ::testing::Test {
 protected:
  std::int64_t now = 1'000 * kSec;
  LoginLimiter limiter{LoginLimiter::Options{.free_failures = 3,
                                             .base_delay = std::chrono::seconds(2),
                                             .max_delay = std::chrono::seconds(60),
                                             .forget_after = std::chrono::seconds(600)},
                       [this] { return now; }};
};

TEST_F(LoginLimiterTest, FreeFailuresThenDoublingDelays) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1", "alice"), 0) << i;
    limiter.Failed("10.0.0.1", "alice");
  }
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1", "alice"), 0);
  limiter.Failed("10.0.0.1", "alice");  // 4th: 2 s
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1", "alice"), 2);
  now += kSec / 2;
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1", "alice"), 2);  // 1.5 s left: rounded up
  now += 2 * kSec;
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1", "alice"), 0);
  limiter.Failed("10.0.0.1", "alice");  // 5th: 4 s
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1", "alice"), 4);
  now += 5 * kSec;
  limiter.Failed("10.0.0.1", "alice");  // 6th: 8 s
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1", "alice"), 8);
  for (int i = 0; i < 20; ++i) {
    now += 61 * kSec;
    limiter.Failed("10.0.0.1", "alice");
  }
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1", "alice"), 60) << "capped at max_delay";
}

TEST_F(LoginLimiterTest, PerAddressAndPerUser) {
  for (int i = 0; i < 4; ++i) limiter.Failed("10.0.0.1", "alice");
  // The user is blocked from any address, the address for any user.
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.2", "alice"), 2);
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1", "bob"), 2);
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.2", "bob"), 0);
  // Guesses spread over many users from one address still hit the address's limit.
  for (int i = 0; i < 4; ++i) limiter.Failed("10.0.0.3", "user" + std::to_string(i));
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.3", "someone-else"), 2);
  // ... and spread over many addresses against one user, the user's.
  for (int i = 0; i < 4; ++i) limiter.Failed("10.1.0." + std::to_string(i), "carol");
  EXPECT_EQ(limiter.RetryAfterSeconds("10.9.9.9", "carol"), 2);
}

TEST_F(LoginLimiterTest, SuccessClearsTheUserNotTheAddress) {
  for (int i = 0; i < 4; ++i) limiter.Failed("10.0.0.1", "alice");
  limiter.Succeeded("alice");
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.2", "alice"), 0);
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1", "alice"), 2) << "the address stays throttled";
}

TEST_F(LoginLimiterTest, ForgottenAfterAQuietPeriod) {
  for (int i = 0; i < 3; ++i) limiter.Failed("10.0.0.1", "alice");
  now += 601 * kSec;
  limiter.Failed("10.0.0.1", "alice");  // counts as the first again
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1", "alice"), 0);
}

TEST_F(LoginLimiterTest, ManyKeysAreSweptWhenExpired) {
  for (int i = 0; i < 5000; ++i)
    limiter.Failed("10.0.0." + std::to_string(i), "u" + std::to_string(i));
  now += 601 * kSec;
  for (int i = 0; i < 3000; ++i)
    limiter.Failed("10.2.0." + std::to_string(i), "v" + std::to_string(i));
  // Old keys were forgotten (and may be swept): they start from zero.
  for (int i = 0; i < 3; ++i) limiter.Failed("10.0.0.1", "u1");
  EXPECT_EQ(limiter.RetryAfterSeconds("10.0.0.1", "u1"), 0);
}

}  // namespace
}  // namespace vigil::server
