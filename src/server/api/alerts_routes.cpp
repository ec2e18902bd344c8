// Alerts over HTTPS: list with filters, one alert, triage (status, assignee, comments; analysts
// and admins) and the live stream of new alerts as Server-Sent Events. See docs/detection.md.
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>

#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "detect/detector.hpp"
#include "server/api/api_context.hpp"
#include "server/api/request_checks.hpp"
#include "server/api/routes.hpp"

namespace vigil::server {
using nlohmann::json;

namespace {

constexpr std::size_t kMaxAlertsListed = 10000;
constexpr std::int64_t kMaxId = std::numeric_limits<std::int64_t>::max();
constexpr std::size_t kMaxStreamBacklog = 10000;  // alerts waiting for a slow SSE client

bool Ready(ApiContext& ctx, httplib::Response& res) {
  if (ctx.options.detection) return true;
  SendError(res, 503, "live detection is not running on this server");
  return false;
}

std::string SseEvent(const store::AlertRecord& a) {
  return "id: " + std::to_string(a.id) + "\nevent: alert\ndata: " + detect::AlertJson(a).dump() +
         "\n\n";
}

// New alerts for one SSE client, filled by the detector's worker thread.
struct Feed {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> events;
  std::uint64_t lost = 0;
  std::uint64_t subscription = 0;
};

}  // namespace

void RegisterAlertsRoutes(httplib::Server& http, ApiContext& ctx) {
  // Query: status, rule, host, severity, since (e.g. 24h or RFC 3339), after (id), limit.
  http.Get("/api/alerts", [&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!Ready(ctx, res)) return;
    store::AlertFilter f;
    f.status = req.get_param_value("status");
    if (!f.status.empty() && !store::ValidAlertStatus(f.status))
      return SendError(res, 400, "status must be new, acknowledged or closed");
    f.rule_id = req.get_param_value("rule");
    f.host = req.get_param_value("host");
    f.severity = req.get_param_value("severity");
    if (req.has_param("since")) {
      auto t = ParseSinceNs(req.get_param_value("since"), NowNs());
      if (!t) return SendError(res, 400, "since: " + t.error().message);
      f.since_ns = *t;
    }
    auto after = IntParam(req, "after", f.after_id, 0, kMaxId);
    if (!after) return SendError(res, 400, after.error().message);
    auto limit = IntParam(req, "limit", static_cast<std::int64_t>(f.limit), 0,
                          static_cast<std::int64_t>(kMaxAlertsListed));
    if (!limit) return SendError(res, 400, limit.error().message);
    f.after_id = *after;
    f.limit = static_cast<std::size_t>(*limit);
    auto alerts = ctx.options.detection->ListAlerts(f);
    if (!alerts) return SendError(res, 500, alerts.error().message);
    json out = json::array();
    for (const auto& a : *alerts) out.push_back(detect::AlertJson(a));
    SendJson(res, out);
  });

  // Server-Sent Events: one `data:` line with an alert's JSON per event, as alerts are raised.
  // ?after=ID first replays the stored alerts with a greater id (resume after a disconnect).
  http.Get("/api/alerts/stream", [&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!Ready(ctx, res)) return;
    if (!ctx.options.detector) return SendError(res, 503, "live detection is not running");
    auto feed = std::make_shared<Feed>();
    feed->subscription = ctx.options.detector->Subscribe([feed](const store::AlertRecord& a) {
      std::lock_guard lock(feed->mu);
      if (feed->events.size() >= kMaxStreamBacklog) {
        ++feed->lost;
        return;
      }
      feed->events.push_back(SseEvent(a));
      feed->cv.notify_one();
    });
    if (req.has_param("after")) {
      store::AlertFilter f;
      auto after = IntParam(req, "after", 0, 0, kMaxId);
      if (!after) {
        ctx.options.detector->Unsubscribe(feed->subscription);
        return SendError(res, 400, after.error().message);
      }
      f.after_id = *after;
      f.limit = kMaxAlertsListed;
      auto backlog = ctx.options.detection->ListAlerts(f);
      if (backlog) {
        std::lock_guard lock(feed->mu);
        // Listed newest first; the stream goes oldest first. Alerts raised meanwhile may also be
        // in the feed already: the client sees an id at most twice and may skip repeats.
        std::deque<std::string> replay;
        for (const auto& a : *backlog) replay.push_front(SseEvent(a));
        for (auto& e : feed->events) replay.push_back(std::move(e));
        feed->events = std::move(replay);
      }
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    auto detector = ctx.options.detector;
    res.set_chunked_content_provider(
        "text/event-stream",
        [feed, quiet = 0](std::size_t, httplib::DataSink& sink) mutable {
          std::unique_lock lock(feed->mu);
          // Wake at least every second so a stopping server ends the stream.
          feed->cv.wait_for(lock, std::chrono::seconds(1), [&] { return !feed->events.empty(); });
          if (feed->events.empty()) {
            if (++quiet < 15) return true;
            quiet = 0;
            lock.unlock();
            static constexpr std::string_view kKeepAlive = ": keep-alive\n\n";
            return sink.write(kKeepAlive.data(), kKeepAlive.size());
          }
          quiet = 0;
          std::deque<std::string> out;
          out.swap(feed->events);
          lock.unlock();
          for (const auto& e : out)
            if (!sink.write(e.data(), e.size())) return false;
          return true;
        },
        [detector, feed](bool) { detector->Unsubscribe(feed->subscription); });
  });

  http.Get(R"(/api/alerts/(\d+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!Ready(ctx, res)) return;
    auto id = ParseIntParam("alert id", req.matches[1].str(), 1, kMaxId);
    if (!id) return SendError(res, 404, "no alert " + std::string(req.matches[1]));
    auto alert = ctx.options.detection->GetAlert(*id);
    if (!alert) return SendError(res, 500, alert.error().message);
    if (!*alert) return SendError(res, 404, "no alert " + std::string(req.matches[1]));
    SendJson(res, detect::AlertJson(**alert));
  });

  // Triage. Body: {"status": "new|acknowledged|closed", "assignee": "name", "comment": "text"},
  // any of them. The comment's author is the caller's API token name.
  http.Post(R"(/api/alerts/(\d+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!Ready(ctx, res)) return;
    auto body = ParseJsonObject(req, res);
    if (!body) return;
    store::AlertChange change;
    for (const char* key : {"status", "assignee", "comment"}) {
      if (!body->contains(key)) continue;
      if (!(*body)[key].is_string())
        return SendError(res, 400, std::string(key) + " must be a string");
    }
    if (body->contains("status")) change.status = (*body)["status"].get<std::string>();
    if (body->contains("assignee")) change.assignee = (*body)["assignee"].get<std::string>();
    if (body->contains("comment")) change.comment = (*body)["comment"].get<std::string>();
    if (!change.status && !change.assignee && !change.comment)
      return SendError(res, 400, "body needs a status, an assignee or a comment");
    if (change.status && !store::ValidAlertStatus(*change.status))
      return SendError(res, 400,
                       "status must be new, acknowledged or closed, not '" + *change.status + "'");
    auto who = Caller(ctx, req);
    change.author = who ? who->name : "";
    auto id = ParseIntParam("alert id", req.matches[1].str(), 1, kMaxId);
    if (!id) return SendError(res, 404, "no alert " + std::string(req.matches[1]));
    auto updated = ctx.options.detection->UpdateAlert(*id, change);
    if (!updated) return SendError(res, 500, updated.error().message);
    if (!*updated) return SendError(res, 404, "no alert " + std::string(req.matches[1]));
    SendJson(res, detect::AlertJson(**updated));
  });
}

}  // namespace vigil::server
