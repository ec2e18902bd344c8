#include "server/importer/importer.hpp"

#include "common/event_json.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "hunt/evtx_reader.hpp"
#include "hunt/windows_mapping.hpp"

namespace vigil::server {
namespace {

constexpr std::size_t kBatchEvents = 5000;

bool IsWindowsRecord(const nlohmann::json& record) {
  return record.is_object() && (record.contains("Event") || record.contains("System"));
}

std::string TypeKey(const v1::Event& e, const nlohmann::json& record) {
  std::string key = e.event_category();
  if (e.has_event_action()) return key + "/" + e.event_action();
  if (IsWindowsRecord(record)) {
    auto id = e.extra().find("EventID");
    if (id != e.extra().end()) return key + "/event-" + id->second;
  }
  return key;
}

// "record 12" (the position among the parsed records), with the Windows EventRecordID if any.
std::string Label(const nlohmann::json& record, std::size_t i) {
  std::string out = "record " + std::to_string(i + 1);
  const nlohmann::json& ev =
      record.is_object() && record.contains("Event") ? record["Event"] : record;
  if (ev.is_object() && ev.contains("System") && ev["System"].is_object() &&
      ev["System"].contains("EventRecordID")) {
    const auto& id = ev["System"]["EventRecordID"];
    out += " (EventRecordID " + (id.is_string() ? id.get<std::string>() : id.dump()) + ")";
  }
  return out;
}

}  // namespace

Result<ImportReport> ImportRecords(store::Store& store, std::string_view text,
                                   store::HostDirectory* hosts) {
  auto records = hunt::ParseWindowsRecords(text);
  if (!records) return std::unexpected(records.error());
  ImportReport report;
  if (auto r = ImportParsed(store, *records, report, "import:json", hosts); !r)
    return std::unexpected(r.error());
  return report;
}

Result<ImportReport> ImportEvtx(store::Store& store, std::string_view bytes, bool recovered,
                                store::HostDirectory* hosts) {
  auto contents = hunt::ReadEvtxBytes(bytes, recovered);
  if (!contents) return std::unexpected(contents.error());
  ImportReport report;
  // Unreadable records count as records and skips, with libevtx's reason (record number, offset).
  report.records = contents->error_count;
  report.skipped = contents->error_count;
  for (const auto& e : contents->errors)
    if (report.reasons.size() < kMaxImportReasons) report.reasons.push_back(e);
  if (auto r = ImportParsed(store, contents->records, report, "import:evtx", hosts); !r)
    return std::unexpected(r.error());
  return report;
}

Result<void> ImportParsed(store::Store& store, const std::vector<nlohmann::json>& parsed,
                          ImportReport& report, std::string_view source,
                          store::HostDirectory* hosts) {
  const auto* records = &parsed;
  std::vector<store::IngestBatch> batch(1);
  auto flush = [&]() -> Result<void> {
    if (batch.front().events.empty()) return {};
    auto r = store.Append(batch);
    if (!r) return Fail("store: " + r.error().message);
    report.imported += r->front().stored;
    // The events are stored whatever happens here: a failure only leaves the hosts list short.
    if (hosts)
      if (auto recorded = hosts->RecordImported(source, batch.front().events); !recorded)
        VLOG_WARN("import: hosts list not updated: {}", recorded.error().message);
    if (r->front().rejected) {
      report.skipped += r->front().rejected;
      if (report.reasons.size() < kMaxImportReasons)
        report.reasons.push_back(std::to_string(r->front().rejected) +
                                 " event(s) without a known event.category");
    }
    batch.front().events.clear();
    return {};
  };
  const std::int64_t now = NowNs();
  for (std::size_t i = 0; i < records->size(); ++i) {
    const auto& record = (*records)[i];
    ++report.records;
    auto event = IsWindowsRecord(record) ? hunt::MapWindowsEvent(record) : EventFromJson(record);
    if (!event) {
      ++report.skipped;
      if (report.reasons.size() < kMaxImportReasons)
        report.reasons.push_back(Label(record, i) + ": " + event.error().message);
      continue;
    }
    if (!schema::CategoryOf(*event)) {
      ++report.skipped;
      if (report.reasons.size() < kMaxImportReasons)
        report.reasons.push_back(Label(record, i) + ": " +
                                 (event->has_event_category()
                                      ? "unknown event.category '" + event->event_category() + "'"
                                      : std::string("no event.category")));
      continue;
    }
    if (!event->has_timestamp()) event->set_timestamp(now);
    report.by_type[TypeKey(*event, record)]++;
    batch.front().events.push_back(std::move(*event));
    if (batch.front().events.size() >= kBatchEvents)
      if (auto r = flush(); !r) return std::unexpected(r.error());
  }
  return flush();
}

}  // namespace vigil::server
