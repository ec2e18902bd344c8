// POST /api/import: .evtx files, Windows/Sysmon records or Vigil JSON events into the store.
#include <nlohmann/json.hpp>

#include "hunt/evtx_reader.hpp"
#include "server/api/api_context.hpp"
#include "server/api/routes.hpp"
#include "server/importer/importer.hpp"

namespace vigil::server {
using nlohmann::json;

void RegisterImportRoutes(httplib::Server& http, ApiContext& ctx) {
  // Body: an .evtx file (Content-Type application/x-evtx, or any body starting with the EVTX
  // signature), Windows event records (evtx_dump JSON: one per line, an array, or concatenated)
  // or Vigil JSON Lines events. ?recovered=1: an .evtx file's recovered records too. Answers the
  // counts per event type and the first reasons for skips. The events' hosts join the hosts list.
  http.Post("/api/import", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const bool evtx = req.get_header_value("Content-Type") == "application/x-evtx";
    const bool recovered = req.get_param_value("recovered") == "1";
    auto report = evtx || hunt::LooksLikeEvtx(req.body)
                      ? ImportEvtx(ctx.store, req.body, recovered, ctx.hosts)
                      : ImportRecords(ctx.store, req.body, ctx.hosts);
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
