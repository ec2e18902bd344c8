// IOC sets over HTTPS (/api/ioc/sets): list, add or replace, remove. Every change reloads the live
// engine; a set's indicators then raise alerts like a rule (`ioc-NAME`). See docs/detection.md.
#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "detect/detector.hpp"
#include "detect/ioc.hpp"
#include "server/api/api_context.hpp"
#include "server/api/routes.hpp"

namespace vigil::server {
using nlohmann::json;

void RegisterIocRoutes(httplib::Server& http, ApiContext& ctx) {
  http.Get("/api/ioc/sets", [&ctx](const httplib::Request&, httplib::Response& res) {
    if (!ctx.options.detection) return SendError(res, 503, "live detection is not running");
    auto sets = ctx.options.detection->ListIocSets();
    if (!sets) return SendError(res, 500, sets.error().message);
    json out = json::array();
    const std::int64_t now = NowNs();
    for (const auto& s : *sets)
      out.push_back({{"name", s.name},
                     {"source", s.source},
                     {"rule_id", detect::IocRuleId(s)},
                     {"expires", s.expires_ns ? FormatRfc3339(s.expires_ns) : ""},
                     {"expired", s.expires_ns && s.expires_ns <= now},
                     {"created", FormatRfc3339(s.created_ns)},
                     {"sha256", s.sha256},
                     {"ips", s.ips},
                     {"domains", s.domains}});
    SendJson(res, out);
  });

  // Body: {"name", "source", "expires": "30d" | RFC 3339 (optional), "indicators": [...]} (each
  // sorted into sha256, ip/CIDR or domain), or the lists "sha256", "ips", "domains".
  http.Post("/api/ioc/sets", [&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!ctx.options.detection) return SendError(res, 503, "live detection is not running");
    auto body = ParseJsonObject(req, res);
    if (!body) return;
    store::IocSet set;
    set.name = body->value("name", "");
    set.source = body->value("source", "");
    const std::int64_t now = NowNs();
    if (body->contains("expires") && !(*body)["expires"].get<std::string>().empty()) {
      const std::string text = (*body)["expires"];
      auto ahead = ParseDurationNs(text);
      if (ahead) {
        set.expires_ns = now + *ahead;
      } else {
        auto at = ParseSinceNs(text, now);  // an RFC 3339 time
        if (!at || text.find('T') == std::string::npos)
          return SendError(res, 400, "expires: '" + text + "' is neither a duration nor RFC 3339");
        set.expires_ns = *at;
      }
    }
    for (const char* key : {"indicators", "sha256", "ips", "domains"}) {
      if (!body->contains(key)) continue;
      if (!(*body)[key].is_array())
        return SendError(res, 400, std::string(key) + " must be a list");
      std::size_t i = 0;
      for (const auto& v : (*body)[key]) {
        ++i;
        if (!v.is_string())
          return SendError(res, 400,
                           std::string(key) + "[" + std::to_string(i) + "] is not a string");
        if (auto r = detect::AddIndicator(set, v.get<std::string>()); !r)
          return SendError(res, 400,
                           std::string(key) + "[" + std::to_string(i) + "]: " + r.error().message);
      }
    }
    if (auto r = detect::ValidateIocSet(set); !r) return SendError(res, 400, r.error().message);
    if (auto r = ctx.options.detection->PutIocSet(set); !r)
      return SendError(res, 500, r.error().message);
    if (ctx.options.detector) (void)ctx.options.detector->Reload();
    SendJson(res, json{{"name", set.name},
                       {"rule_id", detect::IocRuleId(set)},
                       {"sha256", set.sha256.size()},
                       {"ips", set.ips.size()},
                       {"domains", set.domains.size()},
                       {"expires", set.expires_ns ? FormatRfc3339(set.expires_ns) : ""}});
  });

  http.Delete(R"(/api/ioc/sets/([A-Za-z0-9._-]+))", [&ctx](const httplib::Request& req,
                                                           httplib::Response& res) {
    if (!ctx.options.detection) return SendError(res, 503, "live detection is not running");
    auto deleted = ctx.options.detection->DeleteIocSet(req.matches[1]);
    if (!deleted) return SendError(res, 500, deleted.error().message);
    if (!*deleted)
      return SendError(res, 404, "no IOC set named '" + std::string(req.matches[1]) + "'");
    if (ctx.options.detector) (void)ctx.options.detector->Reload();
    SendJson(res, json{{"deleted", std::string(req.matches[1])}});
  });
}

}  // namespace vigil::server
