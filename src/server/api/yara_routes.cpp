// YARA rule sets: GET /api/yara (latest version of each), POST /api/yara (upload a new version:
// compiled before it is stored, errors as origin:line: reason), GET /api/yara/NAME (versions, and
// ?sources=1 for the texts of the latest or ?version=N), DELETE /api/yara/NAME.
#include <limits>

#include <nlohmann/json.hpp>

#include "agent/scan/rule_set.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "server/api/api_context.hpp"
#include "server/api/request_checks.hpp"
#include "server/api/routes.hpp"
#include "server/store/yara_store.hpp"

namespace vigil::server {
namespace {
using nlohmann::json;

json InfoJson(const store::YaraRuleSetInfo& i) {
  return {{"name", i.name},     {"version", i.version},
          {"sha256", i.sha256}, {"rules", i.rule_count},
          {"files", i.files},   {"bytes", i.bytes},
          {"owner", i.owner},   {"created", FormatRfc3339(i.created_ns)}};
}
}  // namespace

void RegisterYaraRoutes(httplib::Server& http, ApiContext& ctx) {
  std::shared_ptr<store::YaraRuleStore> rules;
  if (auto opened = store::YaraRuleStore::Open(ctx.options.db_path))
    rules = std::move(*opened);
  else
    VLOG_ERROR("api: YARA rule sets unavailable: {}", opened.error().message);
  auto unavailable = [](httplib::Response& res) {
    SendError(res, 503, "YARA rule sets are unavailable (see the server log)");
  };

  http.Get("/api/yara", [rules, unavailable](const httplib::Request&, httplib::Response& res) {
    if (!rules) return unavailable(res);
    auto list = rules->List();
    if (!list) return SendError(res, 500, list.error().message);
    json out = json::array();
    for (const auto& i : *list) out.push_back(InfoJson(i));
    SendJson(res, out);
  });

  // Body: {"name": "...", "sources": [{"namespace": "...", "origin": "path", "text": "..."}]}.
  http.Post("/api/yara", [rules, unavailable, &ctx](const httplib::Request& req,
                                                    httplib::Response& res) {
    if (!rules) return unavailable(res);
    auto body = ParseJsonObject(req, res);
    if (!body) return;
    const auto name = body->value("name", std::string());
    if (!store::ValidRuleSetName(name))
      return SendError(res, 400, "a rule set name is 1-64 letters, digits, '.', '_' or '-'");
    if (!body->contains("sources") || !(*body)["sources"].is_array() || (*body)["sources"].empty())
      return SendError(res, 400, "body needs \"sources\": [{\"namespace\", \"origin\", \"text\"}]");
    std::vector<agent::scan::RuleSource> sources;
    std::vector<store::YaraSource> stored;
    for (const auto& item : (*body)["sources"]) {
      if (!item.is_object() || !item.contains("text") || !item["text"].is_string())
        return SendError(res, 400, "every source needs a \"text\" string");
      agent::scan::RuleSource s{item.value("namespace", std::string("default")),
                                item.value("origin", std::string("<upload>")),
                                item["text"].get<std::string>()};
      if (s.name_space.empty()) return SendError(res, 400, "a source's namespace is empty");
      stored.push_back({s.name_space, s.origin, s.text});
      sources.push_back(std::move(s));
    }
    auto compiled = agent::scan::RuleSet::FromSources(sources);
    if (!compiled) return SendError(res, 400, compiled.error().message);
    auto who = Caller(ctx, req);
    auto info =
        rules->Add(name, stored, (*compiled)->version(),
                   static_cast<std::int64_t>((*compiled)->rule_count()), who ? who->name : "");
    if (!info) return SendError(res, 500, info.error().message);
    json out = InfoJson(*info);
    out["warnings"] = (*compiled)->warnings();
    SendJson(res, out);
  });

  http.Get(R"(/api/yara/([A-Za-z0-9._-]+))", [rules, unavailable](const httplib::Request& req,
                                                                  httplib::Response& res) {
    if (!rules) return unavailable(res);
    const std::string name = req.matches[1];
    auto versions = rules->Versions(name);
    if (!versions) return SendError(res, 500, versions.error().message);
    if (versions->empty()) return SendError(res, 404, "no YARA rule set named '" + name + "'");
    json out = InfoJson(versions->front());
    out["versions"] = json::array();
    for (const auto& v : *versions) out["versions"].push_back(InfoJson(v));
    if (req.has_param("sources") || req.has_param("version")) {
      auto version = IntParam(req, "version", 0, 0, std::numeric_limits<std::int64_t>::max());
      if (!version) return SendError(res, 400, version.error().message);
      auto got = rules->Get(name, *version);
      if (!got) return SendError(res, 500, got.error().message);
      if (!*got) return SendError(res, 404, name + " has no version " + std::to_string(*version));
      out["selected"] = InfoJson((*got)->first);
      out["sources"] = json::array();
      for (const auto& s : (*got)->second)
        out["sources"].push_back(
            {{"namespace", s.name_space}, {"origin", s.origin}, {"text", s.text}});
    }
    SendJson(res, out);
  });

  http.Delete(R"(/api/yara/([A-Za-z0-9._-]+))",
              [rules, unavailable](const httplib::Request& req, httplib::Response& res) {
                if (!rules) return unavailable(res);
                const std::string name = req.matches[1];
                auto removed = rules->Remove(name);
                if (!removed) return SendError(res, 500, removed.error().message);
                if (!*removed) return SendError(res, 404, "no YARA rule set named '" + name + "'");
                SendJson(res, {{"removed", name}});
              });
}

}  // namespace vigil::server
