// GET /api/events/stream: newly committed events as Server-Sent Events, filtered by category, host
// and text (each message carries one or more events, one JSON object per line), with a periodic
// "stats" event carrying what this stream delivered and dropped.
// GET /api/schema: the event schema's categories and fields (the console's query completion).
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/schema.hpp"
#include "server/api/api_context.hpp"
#include "server/api/request_checks.hpp"
#include "server/api/routes.hpp"

namespace vigil::server {
using nlohmann::json;
namespace {

constexpr auto kWait = std::chrono::milliseconds(250);
// Events are written at most every 50 ms, many per write: a busy stream costs few TLS records.
constexpr auto kCoalesce = std::chrono::milliseconds(50);
constexpr auto kStatsEvery = std::chrono::seconds(1);  // stats, which also keep the stream alive

}  // namespace

void RegisterLiveRoutes(httplib::Server& http, ApiContext& ctx) {
  http.Get("/api/events/stream", [&ctx](const httplib::Request& req, httplib::Response& res) {
    LiveFilter filter;
    if (req.has_param("category") && !req.get_param_value("category").empty()) {
      auto c = schema::ParseCategory(req.get_param_value("category"));
      if (!c)
        return SendError(res, 400, "unknown category '" + req.get_param_value("category") + "'");
      filter.category = *c;
    }
    filter.host = req.get_param_value("host");
    filter.text = req.get_param_value("q");
    if (filter.text.size() > 1024) return SendError(res, 400, "q is longer than 1024 characters");
    std::size_t capacity = EventHub::kDefaultCapacity;
    auto buffer = IntParam(req, "buffer", static_cast<std::int64_t>(capacity), 1, 200000);
    if (!buffer) return SendError(res, 400, buffer.error().message + " (events)");
    capacity = static_cast<std::size_t>(*buffer);
    auto subscriber = ctx.hub->Subscribe(std::move(filter), capacity);
    EventHub* hub = ctx.hub;
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [subscriber](std::size_t, httplib::DataSink& sink) {
          std::vector<std::string> events;
          std::string out = ": live\n\n";
          if (!sink.write(out.data(), out.size())) return false;
          auto last_stats = std::chrono::steady_clock::time_point{};
          for (;;) {
            events.clear();
            const bool open = subscriber->Take(events, kWait);
            out.clear();
            // One message per write, one event per data line: the browser dispatches a message
            // (not thousands) per 50 ms, and joins the lines with "\n".
            for (const auto& e : events) {
              out += "data: ";
              out += e;
              out += '\n';
            }
            if (!events.empty()) out += '\n';
            const auto now = std::chrono::steady_clock::now();
            if (now - last_stats >= kStatsEvery || !open) {
              last_stats = now;
              out += "event: stats\ndata: ";
              out +=
                  json{{"delivered", subscriber->delivered()}, {"dropped", subscriber->dropped()}}
                      .dump();
              out += "\n\n";
            }
            if (!out.empty() && !sink.write(out.data(), out.size())) return false;  // gone
            if (!open) {
              sink.done();
              return true;
            }
            if (!events.empty()) std::this_thread::sleep_for(kCoalesce);
          }
        },
        [hub, subscriber](bool) { hub->Unsubscribe(subscriber); });
  });

  http.Get("/api/schema", [](const httplib::Request&, httplib::Response& res) {
    json categories = json::array();
    for (const auto& c : schema::Categories())
      categories.push_back({{"name", c.name}, {"doc", c.doc}});
    json fields = json::array();
    for (const auto& f : schema::Fields()) {
      json in = json::array();
      for (const auto& c : schema::Categories())
        if (f.In(c.category)) in.push_back(c.name);
      fields.push_back({{"name", f.name},
                        {"type", schema::TypeName(f.type)},
                        {"categories", in},
                        {"doc", f.doc}});
    }
    // With a charset: httplib's brotli at its highest quality is slow for large bodies.
    res.set_content(json{{"schema_version", schema::kSchemaVersion},
                         {"categories", categories},
                         {"fields", fields}}
                        .dump(),
                    "application/json; charset=utf-8");
  });
}

}  // namespace vigil::server
