// Tests of the DNS message parser, the persistence path classifier and the internal ranges:
// well-formed messages and malformed ones (short, loops, forward pointers, overlong names and
// records that run past the end) that must fail cleanly.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstdint>
#include <vector>

#include "agent/sensor/dns_parser.hpp"
#include "agent/sensor/ip_ranges.hpp"
#include "agent/sensor/persistence.hpp"

namespace vigil::agent {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes Header(std::uint16_t flags, std::uint16_t qd, std::uint16_t an) {
  return {0x12,
          0x34,
          static_cast<std::uint8_t>(flags >> 8),
          static_cast<std::uint8_t>(flags),
          0,
          static_cast<std::uint8_t>(qd),
          0,
          static_cast<std::uint8_t>(an),
          0,
          0,
          0,
          0};
}

Bytes Response() {
  Bytes b = Header(0x8180, 1, 3);
  Bytes q = {3,   'w', 'w', 'w', 7,   'e', 'x', 'a', 'm', 'p', 'l',
             'e', 3,   'c', 'o', 'm', 0,   0,   1,   0,   1};
  b.insert(b.end(), q.begin(), q.end());
  // CNAME www.example.com -> web.example.com (compressed), A 93.184.216.34, AAAA 2001:db8::1
  Bytes cname = {0xC0, 12, 0, 5, 0, 1, 0, 0, 1, 0, 0, 6, 3, 'w', 'e', 'b', 0xC0, 16};
  Bytes a = {0xC0, 45, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 93, 184, 216, 34};
  Bytes aaaa = {0xC0, 45,   0, 28, 0, 1, 0, 0, 0, 30, 0, 16, 0x20, 0x01,
                0x0d, 0xb8, 0, 0,  0, 0, 0, 0, 0, 0,  0, 0,  0,    1};
  b.insert(b.end(), cname.begin(), cname.end());
  b.insert(b.end(), a.begin(), a.end());
  b.insert(b.end(), aaaa.begin(), aaaa.end());
  return b;
}

TEST(DnsParserTest, ParsesQuestionAndAnswers) {
  auto m = dns::Parse(Response());
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_TRUE(m->response);
  EXPECT_EQ(m->id, 0x1234);
  EXPECT_EQ(m->question_name, "www.example.com");
  EXPECT_EQ(dns::TypeName(m->question_type), "A");
  ASSERT_EQ(m->answers.size(), 3u);
  EXPECT_EQ(m->answers[0].type, 5);
  EXPECT_EQ(m->answers[0].data, "web.example.com");
  EXPECT_EQ(m->answers[1].data, "93.184.216.34");
  EXPECT_EQ(m->answers[1].ttl, 30u);
  EXPECT_EQ(m->answers[2].data, "2001:db8::1");
  EXPECT_EQ(m->answers[1].name, "web.example.com");
}

TEST(DnsParserTest, QueryHasNoAnswers) {
  Bytes b = Header(0x0100, 1, 0);
  Bytes q = {1, 'a', 0, 0, 28, 0, 1};
  b.insert(b.end(), q.begin(), q.end());
  auto m = dns::Parse(b);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->response);
  EXPECT_EQ(m->question_name, "a");
  EXPECT_EQ(dns::TypeName(m->question_type), "AAAA");
}

TEST(DnsParserTest, MalformedMessagesFailCleanly) {
  EXPECT_FALSE(dns::Parse(Bytes{}));
  EXPECT_FALSE(dns::Parse(Bytes(11, 0)));
  // Every prefix of a valid response either parses or fails; none crashes. Cut answers fail
  // unless the capture is known to be cut.
  Bytes full = Response();
  for (std::size_t n = 0; n < full.size(); ++n) {
    Bytes cut(full.begin(), full.begin() + static_cast<long>(n));
    auto m = dns::Parse(cut);
    if (n > 33 + 4) {
      auto lenient = dns::Parse(cut, /*capture_cut=*/true);
      ASSERT_TRUE(lenient) << n;
      EXPECT_TRUE(lenient->answers_truncated) << n;
    }
    (void)m;
  }
  // A compression pointer to itself (a loop) and one pointing forward.
  Bytes loop = Header(0x0100, 1, 0);
  loop.insert(loop.end(), {0xC0, 12, 0, 1, 0, 1});
  EXPECT_FALSE(dns::Parse(loop));
  Bytes fwd = Header(0x0100, 1, 0);
  fwd.insert(fwd.end(), {0xC0, 20, 0, 1, 0, 1, 0, 0, 1, 'a', 0});
  EXPECT_FALSE(dns::Parse(fwd));
  // A label running past the end, a reserved label type, a name over 255 bytes.
  Bytes past = Header(0x0100, 1, 0);
  past.insert(past.end(), {40, 'a', 'b'});
  EXPECT_FALSE(dns::Parse(past));
  Bytes reserved = Header(0x0100, 1, 0);
  reserved.insert(reserved.end(), {0x40, 'a', 0, 0, 1, 0, 1});
  EXPECT_FALSE(dns::Parse(reserved));
  Bytes longname = Header(0x0100, 1, 0);
  for (int i = 0; i < 5; ++i) {
    longname.push_back(63);
    longname.insert(longname.end(), 63, 'x');
  }
  longname.insert(longname.end(), {0, 0, 1, 0, 1});
  EXPECT_FALSE(dns::Parse(longname));
  // An answer whose RDATA length runs past the end; an A record with 5 bytes.
  Bytes rd = Response();
  rd[12 + 21 + 10] = 0xFF;  // CNAME rdlength high byte
  EXPECT_FALSE(dns::Parse(rd));
  Bytes bad_a = Header(0x8180, 0, 1);
  bad_a.insert(bad_a.end(), {0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 5, 1, 2, 3, 4, 5});
  EXPECT_FALSE(dns::Parse(bad_a));
  // An implausible question count.
  EXPECT_FALSE(dns::Parse(Header(0x0100, 200, 0)));
}

TEST(PersistenceTest, MechanismOfPaths) {
  EXPECT_EQ(persistence::Mechanism("/etc/systemd/system/x.service"), "systemd");
  EXPECT_EQ(persistence::Mechanism("/home/bob/.config/systemd/user/x.service"), "systemd");
  EXPECT_EQ(persistence::Mechanism("/etc/cron.d/job"), "cron");
  EXPECT_EQ(persistence::Mechanism("/var/spool/cron/crontabs/root"), "cron");
  EXPECT_EQ(persistence::Mechanism("/var/spool/cron/atjobs/a0001"), "at");
  EXPECT_EQ(persistence::Mechanism("/etc/rc.local"), "rc");
  EXPECT_EQ(persistence::Mechanism("/etc/init.d/foo"), "rc");
  EXPECT_EQ(persistence::Mechanism("/etc/rc3.d/S01foo"), "rc");
  EXPECT_EQ(persistence::Mechanism("/etc/profile"), "profile");
  EXPECT_EQ(persistence::Mechanism("/etc/profile.d/x.sh"), "profile");
  EXPECT_EQ(persistence::Mechanism("/root/.bashrc"), "profile");
  EXPECT_EQ(persistence::Mechanism("/home/bob/.profile"), "profile");
  EXPECT_EQ(persistence::Mechanism("/etc/ld.so.preload"), "ld_preload");
  EXPECT_EQ(persistence::Mechanism("/root/.ssh/authorized_keys"), "authorized_keys");
  EXPECT_EQ(persistence::Mechanism("/etc/sudoers.d/bob"), "sudoers");
  EXPECT_EQ(persistence::Mechanism("/etc/udev/rules.d/99-x.rules"), "udev");
  EXPECT_EQ(persistence::Mechanism("/etc/profilex"), "");
  EXPECT_EQ(persistence::Mechanism("/etc/passwd"), "");
  EXPECT_EQ(persistence::Mechanism("/home/bob/notes.txt"), "");
  EXPECT_EQ(persistence::Mechanism("/etc/systemd/system/"), "");
}

TEST(IpRangesTest, DefaultsAndMappedAddresses) {
  auto r = IpRanges::Parse({"10.0.0.0/8", "172.16.0.0/12", "127.0.0.0/8", "fc00::/7", "::1/128"});
  ASSERT_TRUE(r);
  auto ip = [](const char* text) {
    IpAddress a;
    a.family = std::string_view(text).find(':') != std::string_view::npos ? AF_INET6 : AF_INET;
    inet_pton(a.family, text, a.bytes.data());
    return a;
  };
  EXPECT_TRUE(r->Contains(ip("10.1.2.3")));
  EXPECT_TRUE(r->Contains(ip("172.31.255.255")));
  EXPECT_FALSE(r->Contains(ip("172.32.0.1")));
  EXPECT_FALSE(r->Contains(ip("8.8.8.8")));
  EXPECT_TRUE(r->Contains(ip("::ffff:127.0.0.1")));
  EXPECT_TRUE(r->Contains(ip("fd00::1")));
  EXPECT_FALSE(r->Contains(ip("2001:db8::1")));
  EXPECT_EQ(ip("::ffff:10.0.0.1").Unmapped().ToString(), "10.0.0.1");
  EXPECT_FALSE(IpRanges::Parse({"10.0.0.0/33"}));
  EXPECT_FALSE(IpRanges::Parse({"nope"}));
}

}  // namespace
}  // namespace vigil::agent
