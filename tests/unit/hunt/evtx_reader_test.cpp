// The .evtx reader (libevtx + the record XML → evtx_dump JSON conversion) on real corpus files,
// on damaged copies of them, and on hand-written XML.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "hunt/evtx_reader.hpp"
#include "hunt/windows_mapping.hpp"

namespace vigil::hunt {
namespace {

namespace fs = std::filesystem;
const fs::path kCorpus = VIGIL_CORPORA;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// A Sysmon process-creation sample whose JSON twin (evtx_dump) sits next to it.
const fs::path kSample = kCorpus /
                         "sigma/regression/rules-emerging-threats/2025/Malware/Shai-Hulud/"
                         "proc_creation_win_mal_shai_hulud_malicious_npm_package_installation/"
                         "bae7c70b-8569-44e9-accf-b30073da8a5d.evtx";

TEST(EvtxReader, ReadsARecordLikeEvtxDump) {
  auto contents = ReadEvtxFile(kSample);
  ASSERT_TRUE(contents) << contents.error().message;
  ASSERT_EQ(contents->records.size(), 1u);
  EXPECT_EQ(contents->error_count, 0u);
  const auto& ev = contents->records[0]["Event"];
  EXPECT_EQ(ev["System"]["Provider"]["#attributes"]["Name"], "Microsoft-Windows-Sysmon");
  EXPECT_EQ(ev["System"]["EventID"], "1");
  EXPECT_EQ(ev["System"]["Computer"], "swachchhanda");
  EXPECT_EQ(ev["EventData"]["Image"], "C:\\Program Files\\nodejs\\node.exe");
  EXPECT_EQ(ev["EventData"]["ParentImage"], "C:\\Windows\\System32\\cmd.exe");

  auto event = MapWindowsEvent(contents->records[0]);
  ASSERT_TRUE(event) << event.error().message;
  EXPECT_EQ(event->event_category(), "process");
  EXPECT_EQ(event->process_name(), "node.exe");
  EXPECT_EQ(event->process_parent_name(), "cmd.exe");
  EXPECT_EQ(event->process_hash_sha256(),
            "f13ac3ca23248dc389507e8fe38c34489ab7edb3e6d6700eb6da6a0b7e128eaf");
  EXPECT_EQ(event->host_name(), "swachchhanda");
  EXPECT_GT(event->timestamp(), 1764312184000000000);  // 2025-11-28T06:43:04Z
  EXPECT_LT(event->timestamp(), 1764312185000000000);

  auto from_bytes = ReadEvtxBytes(ReadAll(kSample));
  ASSERT_TRUE(from_bytes) << from_bytes.error().message;
  EXPECT_EQ(from_bytes->records, contents->records);
}

// The largest attack sample: every record readable, and as many as the file's header says.
TEST(EvtxReader, ReadsAWholeAttackLog) {
  fs::path biggest;
  std::uintmax_t size = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kCorpus / "evtx/EVTX-ATTACK-SAMPLES"))
    if (entry.path().extension() == ".evtx" && entry.file_size() > size)
      size = entry.file_size(), biggest = entry.path();
  ASSERT_FALSE(biggest.empty());
  auto contents = ReadEvtxFile(biggest);
  ASSERT_TRUE(contents) << contents.error().message;
  EXPECT_GT(contents->records.size(), 100u);
  EXPECT_EQ(contents->error_count, 0u) << contents->errors.front();
  for (const auto& r : contents->records) ASSERT_TRUE(r["Event"].contains("System"));
}

fs::path TempCopy(const std::string& bytes) {
  fs::path p = fs::temp_directory_path() / ("vigil-evtx-" + std::to_string(::getpid()) + ".evtx");
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

// Damage inside the event data of later chunks: the file still opens, the records before the
// damage are kept, the damaged ones are reported with a record number and an offset.
TEST(EvtxReader, DamagedFileKeepsTheGoodRecords) {
  fs::path biggest;
  std::uintmax_t size = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kCorpus / "evtx/EVTX-ATTACK-SAMPLES"))
    if (entry.path().extension() == ".evtx" && entry.file_size() > size)
      size = entry.file_size(), biggest = entry.path();
  std::string bytes = ReadAll(biggest);
  auto intact = ReadEvtxBytes(bytes);
  ASSERT_TRUE(intact);
  // Chunks are 64 KiB after a 4 KiB header; scribble over the records of the second chunk (past
  // its 512-byte header and its string/template tables).
  ASSERT_GT(bytes.size(), 4096u + 2 * 65536u);
  for (std::size_t i = 4096 + 65536 + 0x2000; i < 4096 + 65536 + 0x2000 + 4096; ++i)
    bytes[i] = static_cast<char>(0xA5 ^ (i * 7));
  fs::path copy = TempCopy(bytes);
  auto damaged = ReadEvtxFile(copy);
  auto with_recovered = ReadEvtxFile(copy, true);
  fs::remove(copy);
  ASSERT_TRUE(damaged) << damaged.error().message;
  ASSERT_TRUE(with_recovered) << with_recovered.error().message;
  EXPECT_GE(with_recovered->records.size(), damaged->records.size());
  EXPECT_LT(damaged->records.size(), intact->records.size());
  EXPECT_GT(damaged->records.size(), intact->records.size() / 2);
  // The first chunk's records are all there, unchanged; the lost ones are reported with where.
  EXPECT_EQ(damaged->records.front(), intact->records.front());
  EXPECT_EQ(damaged->records.size() + damaged->error_count, intact->records.size());
  ASSERT_EQ(damaged->errors.size(), 1u);
  EXPECT_TRUE(damaged->errors[0].starts_with(
      "chunk 2 (offset 0x11000): event records checksum mismatch, records "))
      << damaged->errors[0];
  EXPECT_TRUE(damaged->errors[0].ends_with(std::to_string(damaged->error_count) + " not read"))
      << damaged->errors[0];

  // Truncated in the middle of a chunk: the records of the complete chunks are kept.
  std::string cut = ReadAll(biggest).substr(0, 4096 + 65536 + 30000);
  copy = TempCopy(cut);
  auto truncated = ReadEvtxFile(copy);
  fs::remove(copy);
  ASSERT_TRUE(truncated) << truncated.error().message;
  EXPECT_GT(truncated->records.size(), 0u);
  EXPECT_LT(truncated->records.size(), intact->records.size());
  ASSERT_EQ(truncated->errors.size(), 1u);
  EXPECT_TRUE(
      truncated->errors[0].starts_with("chunk 2 (offset 0x11000): truncated (30000 of "
                                       "65536 bytes), records "))
      << truncated->errors[0];
}

TEST(EvtxReader, NotAnEvtxFile) {
  auto r = ReadEvtxBytes("{\"Event\": {}}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "not an EVTX file (no ElfFile signature at offset 0)");
  // The signature and then garbage: the header cannot be read.
  std::string bad("ElfFile\0", 8);
  bad += std::string(5000, 'x');
  r = ReadEvtxBytes(bad);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().message.starts_with("cannot open as EVTX")) << r.error().message;
}

TEST(EvtxReader, XmlToJson) {
  auto j = EvtxXmlToJson(
      "<?xml version=\"1.0\"?>\n<Event xmlns=\"http://x\"><System><Provider Name=\"P\"/>"
      "<EventID>4688</EventID><Correlation/></System><EventData>"
      "<Data Name=\"A\">x &amp; &lt;y&gt; &#x41;&#66;</Data><Data Name=\"Empty\"></Data>"
      "</EventData><UserData><Log xmlns=\"u\"><Sid>S-1</Sid><Sid>S-2</Sid></Log></UserData>"
      "</Event>");
  ASSERT_TRUE(j) << j.error().message;
  const auto& ev = (*j)["Event"];
  EXPECT_EQ(ev["#attributes"]["xmlns"], "http://x");
  EXPECT_EQ(ev["System"]["Provider"]["#attributes"]["Name"], "P");
  EXPECT_EQ(ev["System"]["EventID"], "4688");
  EXPECT_TRUE(ev["System"]["Correlation"].is_null());
  EXPECT_EQ(ev["EventData"]["A"], "x & <y> AB");
  EXPECT_TRUE(ev["EventData"]["Empty"].is_null());
  EXPECT_EQ(ev["UserData"]["Log"]["Sid"], nlohmann::json::array({"S-1", "S-2"}));

  auto unnamed =
      EvtxXmlToJson("<Event><System/><EventData><Data>a</Data><Data>b</Data></EventData></Event>");
  ASSERT_TRUE(unnamed);
  EXPECT_EQ((*unnamed)["Event"]["EventData"]["Data"]["#text"], nlohmann::json::array({"a", "b"}));

  for (auto [xml, why] : std::initializer_list<std::pair<const char*, const char*>>{
           {"<Event><System></Event>", "XML at byte 15: </Event> closes <System>"},
           {"<Event a=\"1></Event>", "XML at byte 10: unterminated attribute a"},
           {"<Event>&bogus;</Event>", "XML at byte 7: unknown entity &bogus;"},
           {"<Event><System>", "XML at byte 15: unterminated element <System>"},
           {"", "XML at byte 0: expected an element"}}) {
    auto bad = EvtxXmlToJson(xml);
    ASSERT_FALSE(bad) << xml;
    EXPECT_EQ(bad.error().message, why) << xml;
  }
}

}  // namespace
}  // namespace vigil::hunt
