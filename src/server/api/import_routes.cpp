// POST /api/import: Windows/Sysmon records or Vigil JSON events into the store.
#include <nlohmann/json.hpp>

#include "server/api/api_context.hpp"
#include "server/api/routes.hpp"
#include "server/importer/importer.hpp"

namespace vigil::server {
using nlohmann::json;

void RegisterImportRoutes(httplib::Server& http, ApiContext& ctx) {
  // Body: Windows event records (evtx_dump JSON: one per line, an array, or concatenated) or Vigil
  // JSON Lines events. Answers the counts per event type and the first reasons for skips.
  http.Post("/api/import", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto report = ImportRecords(ctx.store, req.body);
    if (!report) {
      bool ours = report.error().message.starts_with("store: ");
      return SendError(res, ours ? 500 : 400, report.error().message);
    }
    json out{{"records", report->records},
             {"imported", report->imported},
             {"skipped", report->skipped},
             {"by_type", report->by_type},
             {"reasons", report->reasons}};
    res.set_content(out.dump() + "\n", "application/json");
  });
}

}  // namespace vigil::server
