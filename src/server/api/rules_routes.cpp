// The rule registry over HTTPS: list, show, add (validated: errors say where and why), enable,
// disable, and a retro-hunt of a stored rule over history through the SQL path. Every change
// reloads the live engine. See docs/detection.md.
#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "detect/detector.hpp"
#include "hunt/hunt.hpp"
#include "server/api/api_context.hpp"
#include "server/api/hunt_stream.hpp"
#include "server/api/routes.hpp"

namespace vigil::server {
using nlohmann::json;

namespace {

json RuleJson(const store::RuleRecord& r, bool with_source) {
  json out{{"id", r.id},
           {"name", r.name},
           {"kind", r.kind},
           {"enabled", r.enabled},
           {"severity", r.severity},
           {"tags", r.tags},
           {"description", r.description},
           {"origin", r.origin},
           {"version", r.version},
           {"created", FormatRfc3339(r.created_ns)},
           {"updated", FormatRfc3339(r.updated_ns)}};
  if (with_source) out["source"] = r.source;
  return out;
}

bool Ready(ApiContext& ctx, httplib::Response& res) {
  if (ctx.options.detection) return true;
  SendError(res, 503, "live detection is not running on this server");
  return false;
}

void Reload(ApiContext& ctx) {
  if (ctx.options.detector) (void)ctx.options.detector->Reload();
}

// The stored rule the path names (a Ready check first), or a 503/500/404 already sent.
std::optional<store::RuleRecord> RuleOf(ApiContext& ctx, const httplib::Request& req,
                                        httplib::Response& res) {
  if (!Ready(ctx, res)) return std::nullopt;
  auto rule = ctx.options.detection->GetRule(req.matches[1]);
  if (!rule) {
    SendError(res, 500, rule.error().message);
    return std::nullopt;
  }
  if (!*rule) SendError(res, 404, "no rule with id '" + std::string(req.matches[1]) + "'");
  return std::move(*rule);
}

}  // namespace

void RegisterRulesRoutes(httplib::Server& http, ApiContext& ctx) {
  http.Get("/api/rules", [&ctx](const httplib::Request&, httplib::Response& res) {
    if (!Ready(ctx, res)) return;
    auto rules = ctx.options.detection->ListRules();
    if (!rules) return SendError(res, 500, rules.error().message);
    json out = json::array();
    for (const auto& r : *rules) out.push_back(RuleJson(r, false));
    SendJson(res, out);
  });

  http.Get(R"(/api/rules/([A-Za-z0-9._-]+))",
           [&ctx](const httplib::Request& req, httplib::Response& res) {
             auto rule = RuleOf(ctx, req, res);
             if (rule) SendJson(res, RuleJson(*rule, true));
           });

  // Body: {"source": "...", "file": "name.eql" or "name.yml", "kind": "eql"|"sigma"}. The kind
  // defaults from the file name; an EQL rule's id defaults to the file's stem. A rule that does
  // not parse or cannot run live is a 400 saying where and why. Adding an id again replaces its
  // source (a new version) and keeps its enabled flag.
  http.Post("/api/rules", [&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!Ready(ctx, res)) return;
    auto body = ParseJsonObject(req, res);
    if (!body) return;
    if (!body->contains("source") || !(*body)["source"].is_string())
      return SendError(res, 400, "body must be {\"source\": ..., \"file\": ..., \"kind\": ...}");
    const std::string file = body->value("file", "rule.eql");
    auto kind = detect::KindFromFileName(file);
    if (body->contains("kind")) {
      auto k = detect::ParseKind(body->value("kind", ""));
      if (!k) return SendError(res, 400, "kind must be eql or sigma");
      kind = *k;
    }
    std::string stem = file.substr(file.find_last_of('/') + 1);
    stem = stem.substr(0, stem.rfind('.'));
    auto record = detect::ValidateRule((*body)["source"].get<std::string>(), kind, stem, file);
    if (!record) {
      const auto& m = record.error().message;
      // EQL errors start with LINE:COL; Sigma's are sentences.
      const bool positioned = !m.empty() && std::isdigit(static_cast<unsigned char>(m[0]));
      return SendError(res, 400, file + (positioned ? ":" : ": ") + m);
    }
    auto outcome = ctx.options.detection->UpsertRule(*record, /*keep_enabled=*/true);
    if (!outcome) return SendError(res, 500, outcome.error().message);
    auto stored = ctx.options.detection->GetRule(record->id);
    Reload(ctx);
    static constexpr const char* kOutcome[] = {"added", "updated", "unchanged"};
    json out{{"id", record->id}, {"outcome", kOutcome[static_cast<int>(*outcome)]}};
    if (stored && *stored) {
      out["version"] = (*stored)->version;
      out["enabled"] = (*stored)->enabled;
    }
    SendJson(res, out);
  });

  for (const char* verb : {"enable", "disable"}) {
    const bool enable = std::string_view(verb) == "enable";
    http.Post(std::string(R"(/api/rules/([A-Za-z0-9._-]+)/)") + verb,
              [&ctx, enable](const httplib::Request& req, httplib::Response& res) {
                if (!Ready(ctx, res)) return;
                auto changed = ctx.options.detection->SetRuleEnabled(req.matches[1], enable);
                if (!changed) return SendError(res, 500, changed.error().message);
                if (!*changed)
                  return SendError(res, 404,
                                   "no rule with id '" + std::string(req.matches[1]) + "'");
                Reload(ctx);
                SendJson(res, json{{"id", std::string(req.matches[1])}, {"enabled", enable}});
              });
  }

  // Retro-hunt: the stored rule through the SQL path over history. Body: {"since": "30d",
  // "until": ..., "host": ..., "limit": N}. Streams JSON Lines like POST /api/hunt.
  http.Post(R"(/api/rules/([A-Za-z0-9._-]+)/hunt)", [&ctx](const httplib::Request& req,
                                                           httplib::Response& res) {
    auto rule = RuleOf(ctx, req, res);
    if (!rule) return;
    json body = json::object();
    if (!req.body.empty()) {
      auto parsed = ParseJsonObject(req, res);
      if (!parsed) return;
      body = std::move(*parsed);
    }
    auto kind = detect::ParseKind(rule->kind);
    auto spec = detect::ParseRule(rule->source, kind.value_or(detect::RuleKind::Eql), rule->id);
    if (!spec) return SendError(res, 400, "rule " + rule->id + ": " + spec.error().message);
    auto options = HuntOptionsFromBody(ctx, body, res);
    if (!options) return;
    StreamHunt(res, ctx, spec->query, *options);
  });

  http.Get("/api/detection/stats", [&ctx](const httplib::Request&, httplib::Response& res) {
    if (!ctx.options.detector) return SendError(res, 503, "live detection is not running");
    auto c = ctx.options.detector->Counters();
    SendJson(res, json{{"rules", c.rules},
                       {"queued", c.queued},
                       {"evaluated", c.evaluated},
                       {"dropped", c.dropped},
                       {"queue_depth", c.queue_depth},
                       {"alerts", c.alerts},
                       {"suppressed", c.suppressed},
                       {"alert_errors", c.alert_errors},
                       {"rule_evaluations", c.engine.rule_evaluations},
                       {"matches", c.engine.matches},
                       {"sequence_partials", c.engine.sequence_partials},
                       {"sequence_evicted", c.engine.sequence_evicted},
                       {"sequence_expired", c.engine.sequence_expired},
                       {"related_entities", c.engine.related_entities},
                       {"related_evicted", c.engine.related_evicted},
                       {"lineage_entries", c.engine.lineage_entries},
                       {"lineage_exited", c.engine.lineage_exited},
                       {"lineage_evicted", c.engine.lineage_evicted},
                       {"keys_evicted", c.engine.keys_evicted},
                       {"replayed", c.replayed},
                       {"state_saves", c.state_saves},
                       {"state_errors", c.state_errors}});
  });
}

}  // namespace vigil::server
