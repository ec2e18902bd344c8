// Units of src/common: the schema table, event JSON, durations, hashing, zstd bounds, entity ids,
// recent exits.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "common/entity_id.hpp"
#include "common/event_json.hpp"
#include "common/recent_exits.hpp"
#include "common/schema.hpp"
#include "common/sha256.hpp"
#include "common/tick.hpp"
#include "common/time.hpp"
#include "common/zstd.hpp"

using namespace vigil;

TEST(Schema, FieldsAreFoundByNameAndIdAndBelongToTheirCategories) {
  const auto* pid = schema::FindField("process.pid");
  ASSERT_NE(pid, nullptr);
  EXPECT_EQ(pid->id, 21);
  EXPECT_EQ(pid->column, "process_pid");
  EXPECT_EQ(pid->type, schema::FieldType::Long);
  EXPECT_TRUE(pid->In(schema::Category::Network));  // attribution fields are on every event
  const auto* cmd = schema::FindField("process.command_line");
  ASSERT_NE(cmd, nullptr);
  EXPECT_TRUE(cmd->In(schema::Category::Process));
  EXPECT_FALSE(cmd->In(schema::Category::Network));
  EXPECT_EQ(schema::FieldById(62)->name, "destination.ip");
  EXPECT_EQ(schema::FindField("process.no_such_field"), nullptr);
  EXPECT_EQ(schema::ParseCategory("dns"), schema::Category::Dns);
  EXPECT_EQ(schema::ParseCategory("nope"), std::nullopt);
  EXPECT_EQ(schema::CategoryName(schema::Category::Persistence), "persistence");
}

TEST(Schema, GenericGetAndSetMatchTheTypedProtobufAccessors) {
  v1::Event e;
  EXPECT_TRUE(schema::SetString(e, schema::field::kProcessName, "bash"));
  EXPECT_TRUE(schema::SetInt(e, schema::field::kProcessPid, 42));
  EXPECT_TRUE(schema::SetString(e, schema::field::kProcessArgs, "-c"));
  EXPECT_TRUE(schema::SetString(e, schema::field::kProcessArgs, "id"));
  EXPECT_FALSE(schema::SetInt(e, schema::field::kProcessName, 1));
  EXPECT_FALSE(schema::SetString(e, schema::field::kProcessPid, "x"));
  EXPECT_EQ(e.process_name(), "bash");
  EXPECT_EQ(e.process_pid(), 42);
  EXPECT_EQ(std::get<std::string_view>(schema::Get(e, schema::field::kProcessName)), "bash");
  EXPECT_EQ(std::get<std::int64_t>(schema::Get(e, schema::field::kProcessPid)), 42);
  EXPECT_EQ(
      std::get<const schema::StringList*>(schema::Get(e, schema::field::kProcessArgs))->size(), 2);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(schema::Get(e, schema::field::kFilePath)));
}

TEST(EventJson, RoundTripKeepsEveryFieldAndUnknownOnesInExtra) {
  auto parsed = EventFromJson(nlohmann::json::parse(R"({
    "@timestamp": "2026-01-02T03:04:05.123456789Z",
    "event": {"category": "process", "action": "exec"},
    "process.pid": 7, "process.args": ["sh", "-c", "id"], "vigil.process.args_truncated": true,
    "process.parent.pid": "1", "winlog.channel": "Security", "winlog.event_data": {"X": 1}
  })"));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->timestamp(), 1767323045123456789);
  EXPECT_EQ(parsed->event_category(), "process");
  EXPECT_EQ(parsed->process_pid(), 7);
  EXPECT_EQ(parsed->process_parent_pid(), 1);
  EXPECT_TRUE(parsed->vigil_process_args_truncated());
  EXPECT_EQ(parsed->extra().at("winlog.channel"), "Security");
  EXPECT_EQ(parsed->extra().at("winlog.event_data.X"), "1");
  auto json = EventToJson(*parsed);
  EXPECT_EQ(json["@timestamp"], "2026-01-02T03:04:05.123456789Z");
  EXPECT_EQ(json["process.args"], nlohmann::json::array({"sh", "-c", "id"}));
  EXPECT_EQ(json["winlog.channel"], "Security");
  auto again = EventFromJson(nlohmann::json::parse(json.dump()));
  ASSERT_TRUE(again);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*again, *parsed));
}

TEST(EventJson, WrongTypesAreErrorsThatNameTheField) {
  auto r = EventFromJson(nlohmann::json::parse(R"({"process.pid": "seven"})"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "field process.pid: expected an integer, got \"seven\"");
  r = EventFromJson(nlohmann::json::parse(R"({"@timestamp": "yesterday"})"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("field @timestamp"), std::string::npos);
  EXPECT_FALSE(EventFromJson(nlohmann::json::parse("[1,2]")));
}

TEST(Time, DurationsAndSince) {
  EXPECT_EQ(*ParseDurationNs("30s"), 30'000'000'000);
  EXPECT_EQ(*ParseDurationNs("10m"), 600'000'000'000);
  EXPECT_EQ(*ParseDurationNs("1h30m"), 5'400'000'000'000);
  EXPECT_EQ(*ParseDurationNs("7d"), 7 * 86'400'000'000'000);
  EXPECT_EQ(*ParseDurationNs("250ms"), 250'000'000);
  EXPECT_EQ(*ParseDurationNs("5"), 5'000'000'000);
  EXPECT_FALSE(ParseDurationNs("10 minutes"));
  EXPECT_FALSE(ParseDurationNs(""));
  EXPECT_FALSE(ParseDurationNs("-5s"));
  EXPECT_EQ(*ParseSinceNs("1m", 120'000'000'000), 60'000'000'000);
  EXPECT_EQ(*ParseSinceNs("2026-01-02T03:04:05Z", 0), 1767323045'000'000'000);
  // A UTC offset moves the instant (it was ignored: a window off by the offset); so do fractions.
  EXPECT_EQ(*ParseSinceNs("2026-01-02T05:04:05+02:00", 0), 1767323045'000'000'000);
  EXPECT_EQ(*ParseSinceNs("2026-01-01T22:04:05.25-05:00", 0), 1767323045'250'000'000);
  EXPECT_EQ(*ParseSinceNs("2026-01-02", 0), 1767312000'000'000'000);  // a date: midnight UTC
  for (const char* bad : {"2026-13-45T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31",
                          "2026-01-02T25:00:00Z", "2026-01-02Tnoon"}) {
    auto r = ParseSinceNs(bad, 0);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
    }
  }
  EXPECT_TRUE(ParseSinceNs("2024-02-29T00:00:00Z", 0));  // a leap day
  EXPECT_EQ(FormatRfc3339(1767323045'000000001), "2026-01-02T03:04:05.000000001Z");
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto missing = Sha256File("/nonexistent/file");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/file"), std::string::npos);
}

TEST(Zstd, RoundTripAndBounds) {
  std::string input(100000, 'x');
  auto packed = ZstdCompress(input);
  EXPECT_LT(packed.size(), 1000u);
  EXPECT_EQ(*ZstdDecompress(packed, input.size(), 1 << 20), input);
  EXPECT_FALSE(ZstdDecompress(packed, input.size(), 1000));         // over the bound
  EXPECT_FALSE(ZstdDecompress(packed, input.size() - 1, 1 << 20));  // size lies
  EXPECT_FALSE(ZstdDecompress("garbage", 10, 1 << 20));
}

TEST(EntityId, UniquePerProcessLifetime) {
  auto a = ProcessEntityId("host", "boot", 100, 5000);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a, ProcessEntityId("host", "boot", 100, 5000));
  EXPECT_NE(a, ProcessEntityId("host", "boot", 100, 5001));   // pid reused later
  EXPECT_NE(a, ProcessEntityId("host", "boot2", 100, 5000));  // after a reboot
  EXPECT_NE(a, ProcessEntityId("host2", "boot", 100, 5000));  // another host
}

namespace vigil {
namespace {

// Timestamps from imported files are untrusted: out-of-range dates are refused with the reason
// instead of overflowing 64-bit nanoseconds (found by tests/unit/robustness under UBSan).
TEST(ParseTimestampTest, RangesAreCheckedBeforeArithmetic) {
  auto ok = ParseTimestamp(nlohmann::json("2024-03-01T12:00:00.5+01:00"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, 1709290800'500000000LL);
  auto far = ParseTimestamp(nlohmann::json("99999-01-01T00:00:00Z"));
  ASSERT_FALSE(far);
  EXPECT_NE(far.error().message.find("year 99999 is outside 1678-2261"), std::string::npos)
      << far.error().message;
  auto month = ParseTimestamp(nlohmann::json("2024-13-01T00:00:00Z"));
  ASSERT_FALSE(month);
  EXPECT_NE(month.error().message.find("out of range"), std::string::npos);
  auto offset = ParseTimestamp(nlohmann::json("2024-01-01T00:00:00+99:00"));
  ASSERT_FALSE(offset);
  EXPECT_NE(offset.error().message.find("UTC offset"), std::string::npos);
  auto huge = ParseTimestamp(nlohmann::json(1e300));
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message.find("out of range"), std::string::npos);
}

TEST(NextTick, IsTheNextPointAtTheOffsetModuloThePeriod) {
  using namespace std::chrono;
  using T = steady_clock::time_point;
  // 10.000 s, 500 ms grid at offset 20 ms: 10.020 s; exactly on a tick: the next one.
  EXPECT_EQ(NextTick(T(seconds(10)), milliseconds(500), milliseconds(20)), T(milliseconds(10020)));
  EXPECT_EQ(NextTick(T(milliseconds(10020)), milliseconds(500), milliseconds(20)),
            T(milliseconds(10520)));
  EXPECT_EQ(NextTick(T(milliseconds(10019)), milliseconds(500), milliseconds(20)),
            T(milliseconds(10020)));
  EXPECT_EQ(NextTick(T(milliseconds(10499)), milliseconds(500)), T(milliseconds(10500)));
  // Two periods that divide each other share ticks: every 1 s tick is a 500 ms tick too.
  auto now = T(milliseconds(123456));
  EXPECT_EQ(NextTick(now, milliseconds(1000), milliseconds(20)),
            NextTick(NextTick(now, milliseconds(500), milliseconds(20)), milliseconds(500),
                     milliseconds(20)));
}

}  // namespace
}  // namespace vigil

TEST(RecentExits, FindsTheNewestOfAPidAndStartAndDropsTheOldestPastItsCapacity) {
  struct Exited {
    std::uint64_t start_ticks;
    int generation;
  };
  vigil::RecentExits<Exited> exits(3);
  exits.Add(10, {5, 1});
  exits.Add(10, {5, 2});  // the same process remembered again: the newest answers
  exits.Add(11, {6, 3});
  EXPECT_EQ(exits.Find(10, std::uint64_t{5})->generation, 2);
  EXPECT_EQ(exits.Find(10, std::uint64_t{6}), nullptr);  // the pid, but another start
  exits.Add(12, {7, 4});
  exits.Add(13, {8, 5});
  EXPECT_EQ(exits.size(), 3u);
  EXPECT_EQ(exits.Find(10, std::uint64_t{5}), nullptr);
  EXPECT_EQ(exits.Find(13, std::uint64_t{8})->generation, 5);
}
