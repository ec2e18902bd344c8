// Scan jobs: POST /api/scans (a job: kind files|memory with a YARA rule set, or kind hash — a hash
// sweep, `vigil ioc sweep` — with a "sha256" list; hosts, paths, caps, window, splay, every), GET
// /api/scans, GET /api/scans/ID (each host's state in the latest run), GET /api/scans/ID/stream
// (SSE: the same, whenever it changes, until every host has finished), GET /api/scans/ID/findings
// (YARA matches, or the files a sweep found), POST /api/scans/ID/{pause,resume,cancel} (optional
// body {"reason"}). Each run is one response action (audit log + command per agent, queued for
// offline agents); recurring jobs are dispatched by a scheduler thread.
#include <atomic>
#include <condition_variable>
#include <limits>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/scan/hash_list.hpp"
#include "agent/scan/rule_package.hpp"
#include "agent/scan/schedule.hpp"
#include "common/event_json.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "server/api/api_context.hpp"
#include "server/api/request_checks.hpp"
#include "server/api/routes.hpp"
#include "server/store/action_store.hpp"
#include "server/store/scan_store.hpp"
#include "server/store/yara_store.hpp"

namespace vigil::server {
namespace {
using nlohmann::json;

std::string ScanId(std::int64_t job, std::int64_t run) {
  return std::to_string(job) + "." + std::to_string(run);
}

bool Finished(const std::string& status) {
  return status == "done" || status == "cancelled" || status == "failed";
}

// Owns the job stores and the scheduler of recurring jobs; shared by the route handlers.
class ScanService {
 public:
  ScanService(ApiContext& ctx, std::unique_ptr<store::ScanJobStore> jobs,
              std::unique_ptr<store::YaraRuleStore> rules)
      : ctx_(ctx), jobs_(std::move(jobs)), rules_(std::move(rules)) {
    scheduler_ = std::thread([this] { Schedule(); });
  }
  ~ScanService() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    scheduler_.join();
  }

  store::ScanJobStore& jobs() { return *jobs_; }
  store::YaraRuleStore& rules() { return *rules_; }

  // Sends run N+1 of job to its agents: one action, one command per agent.
  Result<store::ScanRun> Dispatch(const store::ScanJob& job, const std::string& actor,
                                  const std::string& reason) {
    if (!ctx_.actions) return Fail("the server runs without the command channel");
    const bool sweep = job.kind == "hash";  // the spec carries the hash list, no rules
    std::vector<agent::scan::RuleSource> sources;
    if (!sweep) {
      auto got = rules_->Get(job.rule_set, job.rule_version);
      if (!got) return std::unexpected(got.error());
      if (!*got)
        return Fail("rule set " + job.rule_set + " version " + std::to_string(job.rule_version) +
                    " no longer exists");
      for (const auto& s : (*got)->second) sources.push_back({s.name_space, s.origin, s.text});
    }
    auto runs = jobs_->Runs(job.id);
    if (!runs) return std::unexpected(runs.error());
    const std::int64_t run = runs->empty() ? 1 : runs->front().run + 1;

    json spec = json::parse(job.spec);
    json audit = spec;  // the audit log names the rules; the commands carry them
    audit["job"] = ScanId(job.id, run);
    audit["kind"] = job.kind;
    if (!sweep)
      audit["rules"] = {
          {"name", job.rule_set}, {"version", job.rule_version}, {"sha256", job.rules_sha256}};
    json payload = audit;
    payload["run"] = run;
    if (!sweep) payload["rules"]["sources"] = agent::scan::PackSources(sources);
    auto action = ctx_.actions->Create({.actor = actor,
                                        .type = "scan",
                                        .params = audit.dump(),
                                        .reason = reason,
                                        .agent_ids = job.agent_ids,
                                        .payload = payload.dump()});
    if (!action) return std::unexpected(action.error());
    store::ScanRun record{job.id, run, action->id, NowNs()};
    if (auto r = jobs_->AddRun(record); !r) return std::unexpected(r.error());
    return record;
  }

  // The job with its latest run: per host, the command's state and the newest progress.
  Result<json> Status(const store::ScanJob& job) {
    json out = JobJson(job);
    auto runs = jobs_->Runs(job.id);
    if (!runs) return std::unexpected(runs.error());
    out["runs"] = runs->size();
    json hosts = json::array();
    bool all_finished = true;
    if (!runs->empty()) {
      const auto& run = runs->front();
      out["run"] = run.run;
      out["scan_id"] = ScanId(job.id, run.run);
      out["started"] = FormatRfc3339(run.started_ns);
      auto progress = jobs_->Progress(ScanId(job.id, run.run));
      if (!progress) return std::unexpected(progress.error());
      std::optional<store::ActionRecord> action;
      if (ctx_.actions) {
        auto a = ctx_.actions->Get(run.action_id);
        if (a && *a) action = **a;
      }
      auto names = HostNames();
      for (const auto& agent_id : job.agent_ids) {
        json h{{"agent.id", agent_id},
               {"host.name", names.contains(agent_id) ? names[agent_id] : ""},
               {"status", "queued"}};
        if (action)
          for (const auto& t : action->targets)
            if (t.agent_id == agent_id) {
              h["command"] = t.status;
              if (t.status == "failed") {
                h["status"] = "failed";
                h["error"] = t.error;
              } else if (t.status == "sent" || t.status == "done") {
                h["status"] = "starting";
              }
            }
        for (const auto& p : *progress)
          if (p.agent_id == agent_id && h["status"] != "failed") {
            h["status"] = p.status;
            if (!p.error.empty()) h["error"] = p.error;
            h["files_total"] = p.files_total;
            h["files_done"] = p.files_done;
            h["files_cached"] = p.files_cached;
            if (job.kind == "hash") h["files_hashed"] = p.files_hashed;
            h["bytes_total"] = p.bytes_total;
            h["bytes_done"] = p.bytes_done;
            h["processes_total"] = p.processes_total;
            h["processes_done"] = p.processes_done;
            h["findings"] = p.findings;
            h["errors"] = p.errors;
            if (p.eta_seconds >= 0) h["eta_seconds"] = p.eta_seconds;
            h["updated"] = FormatRfc3339(p.updated_ns);
          }
        all_finished = all_finished && Finished(h["status"].get<std::string>());
        hosts.push_back(std::move(h));
      }
    } else {
      all_finished = false;
    }
    out["hosts"] = std::move(hosts);
    out["finished"] = all_finished && !runs->empty();
    return out;
  }

  json JobJson(const store::ScanJob& job) {
    json spec = json::parse(job.spec, nullptr, false);
    return {{"id", job.id},
            {"kind", job.kind},
            {"rules", job.rule_set},
            {"rules_version", job.rule_version},
            {"rules_sha256", job.rules_sha256},
            {"spec", spec},
            {"hosts_total", job.agent_ids.size()},
            {"every_seconds", job.every_ns / 1'000'000'000},
            {"next_run", job.every_ns > 0 ? FormatRfc3339(job.next_run_ns) : ""},
            {"owner", job.owner},
            {"created", FormatRfc3339(job.created_ns)},
            {"status", job.status}};
  }

  std::map<std::string, std::string> HostNames() {
    std::map<std::string, std::string> names;
    if (auto hosts = ctx_.store.ListHosts())
      for (const auto& h : *hosts) names[h.agent_id] = h.hostname;
    return names;
  }

 private:
  void Schedule() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::seconds(5));
      if (stop_) break;
      lock.unlock();
      auto due = jobs_->Due(NowNs());
      if (!due) VLOG_WARN("scan scheduler: {}", due.error().message);
      for (const auto& job : due ? *due : std::vector<store::ScanJob>{}) {
        auto run = Dispatch(job, job.owner, "recurring scan");
        if (!run)
          VLOG_WARN("scan job {}: run not dispatched: {}", job.id, run.error().message);
        else
          VLOG_INFO("scan job {}: run {} dispatched", job.id, run->run);
      }
      lock.lock();
    }
  }

  ApiContext& ctx_;
  std::unique_ptr<store::ScanJobStore> jobs_;
  std::unique_ptr<store::YaraRuleStore> rules_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread scheduler_;
};

// The job of a request's first path match, or a 404/500 already sent.
std::optional<store::ScanJob> JobOf(ScanService& scans, const httplib::Request& req,
                                    httplib::Response& res) {
  auto id = ParseIntParam("scan job id", req.matches[1].str(), 1,
                          std::numeric_limits<std::int64_t>::max());
  if (!id) {
    SendError(res, 400, id.error().message);
    return std::nullopt;
  }
  auto job = scans.jobs().Get(*id);
  if (!job) {
    SendError(res, 500, job.error().message);
    return std::nullopt;
  }
  if (!*job) {
    SendError(res, 404, "no scan job " + std::to_string(*id));
    return std::nullopt;
  }
  return **job;
}

// Body of POST /api/scans into a job (agent ids resolved, rule version pinned).
Result<store::ScanJob> JobFromRequest(ScanService& scans, ApiContext& ctx, const json& body) {
  store::ScanJob job;
  job.kind = body.value("kind", "");
  if (job.kind != "files" && job.kind != "memory" && job.kind != "hash")
    return Fail("\"kind\" must be \"files\", \"memory\" or \"hash\"");
  json spec = json::object();
  if (job.kind == "hash") {
    if (!body.contains("sha256") || !body["sha256"].is_array())
      return Fail("a hash sweep needs \"sha256\": a list of SHA-256 values");
    std::vector<std::string> values;
    for (const auto& v : body["sha256"]) {
      if (!v.is_string()) return Fail("\"sha256\" holds strings, not " + v.dump());
      values.push_back(v.get<std::string>());
    }
    auto list = agent::scan::ParseSha256List(values);
    if (!list) return std::unexpected(list.error());
    spec["sha256"] = *list;
    job.rules_sha256 = agent::scan::Sha256ListDigest(*list);
  } else {
    job.rule_set = body.value("rules", "");
    if (job.rule_set.empty()) return Fail("\"rules\" must name a YARA rule set (vigil yara list)");
    const std::int64_t version = body.value("rules_version", std::int64_t{0});
    auto versions = scans.rules().Versions(job.rule_set);
    if (!versions) return std::unexpected(versions.error());
    if (versions->empty()) return Fail("no YARA rule set named '" + job.rule_set + "'");
    const store::YaraRuleSetInfo* chosen = &versions->front();
    if (version != 0) {
      chosen = nullptr;
      for (const auto& v : *versions)
        if (v.version == version) chosen = &v;
      if (!chosen) return Fail(job.rule_set + " has no version " + std::to_string(version));
    }
    job.rule_version = chosen->version;
    job.rules_sha256 = chosen->sha256;
  }

  if (job.kind != "memory") {
    auto paths = body.value("paths", std::vector<std::string>{});
    if (paths.empty())
      return Fail(job.kind == "hash" ? "a hash sweep needs \"paths\""
                                     : "a file scan needs \"paths\"");
    for (const auto& p : paths)
      if (p.empty() || p[0] != '/') return Fail("paths must be absolute: '" + p + "'");
    spec["paths"] = paths;
    spec["exclude"] = body.value("exclude", std::vector<std::string>{});
    spec["max_size_mb"] = body.value("max_size_mb", 100.0);
    spec["one_fs"] = body.value("one_fs", false);
    spec["io"] = body.value("io", 0.0);
  } else {
    spec["pids"] = body.value("pids", std::vector<int>{});
  }
  const double cpu = body.value("cpu", 5.0);
  if (cpu < 0 || cpu > 100) return Fail("\"cpu\" is a percentage of one core, 0-100");
  spec["cpu"] = cpu;
  spec["threads"] = body.value("threads", 1);
  spec["timeout_seconds"] = body.value("timeout_seconds", 60);
  if (auto w = body.value("window", std::string()); !w.empty()) {
    if (auto parsed = agent::scan::ParseWindow(w); !parsed)
      return Fail("window: " + parsed.error().message);
    spec["window"] = w;
  }
  if (auto splay = body.value("splay", std::string()); !splay.empty()) {
    auto ns = ParseDurationNs(splay);
    if (!ns) return Fail("splay: " + ns.error().message);
    spec["splay_seconds"] = *ns / 1'000'000'000;
  }
  if (auto every = body.value("every", std::string()); !every.empty()) {
    auto ns = ParseDurationNs(every);
    if (!ns) return Fail("every: " + ns.error().message);
    if (*ns < 60'000'000'000LL) return Fail("every: at least 1m");
    job.every_ns = *ns;
  }
  job.spec = spec.dump();

  auto hosts = ctx.store.ListHosts();
  if (!hosts) return std::unexpected(hosts.error());
  auto wanted = body.value("hosts", std::vector<std::string>{"all"});
  for (const auto& w : wanted) {
    bool found = false;
    for (const auto& h : *hosts)
      if (w == "all" || w == h.hostname || w == h.agent_id || w == h.host_id) {
        if (std::find(job.agent_ids.begin(), job.agent_ids.end(), h.agent_id) ==
            job.agent_ids.end())
          job.agent_ids.push_back(h.agent_id);
        found = true;
      }
    if (!found && w != "all") return Fail("no enrolled host named '" + w + "'");
  }
  if (job.agent_ids.empty()) return Fail("no enrolled host to scan");
  job.next_run_ns = NowNs() + job.every_ns;
  job.status = "active";
  return job;
}

}  // namespace

void RegisterScanRoutes(httplib::Server& http, ApiContext& ctx) {
  std::shared_ptr<ScanService> scans;
  {
    auto jobs = store::ScanJobStore::Open(ctx.options.db_path);
    auto rules = store::YaraRuleStore::Open(ctx.options.db_path);
    if (jobs && rules)
      scans = std::make_shared<ScanService>(ctx, std::move(*jobs), std::move(*rules));
    else
      VLOG_ERROR("api: scan jobs unavailable: {}",
                 !jobs ? jobs.error().message : rules.error().message);
  }
  auto guard = [scans](httplib::Response& res) {
    if (!scans) SendError(res, 503, "scan jobs are unavailable (see the server log)");
    return scans != nullptr;
  };

  http.Post("/api/scans",
            [scans, guard, &ctx](const httplib::Request& req, httplib::Response& res) {
              if (!guard(res)) return;
              auto body = ParseJsonObject(req, res);
              if (!body) return;
              auto job = JobFromRequest(*scans, ctx, *body);
              if (!job) return SendError(res, 400, job.error().message);
              auto who = Caller(ctx, req);
              job->owner = who ? who->name : "";
              auto created = scans->jobs().Create(std::move(*job));
              if (!created) return SendError(res, 500, created.error().message);
              auto run = scans->Dispatch(*created, created->owner, body->value("reason", ""));
              if (!run) {
                (void)scans->jobs().SetStatus(created->id, "failed");
                return SendError(res, 500,
                                 "scan job " + std::to_string(created->id) +
                                     " not dispatched: " + run.error().message);
              }
              auto status = scans->Status(*created);
              if (!status) return SendError(res, 500, status.error().message);
              SendJson(res, *status);
            });

  http.Get("/api/scans", [scans, guard](const httplib::Request&, httplib::Response& res) {
    if (!guard(res)) return;
    auto jobs = scans->jobs().List();
    if (!jobs) return SendError(res, 500, jobs.error().message);
    json out = json::array();
    for (const auto& job : *jobs) {
      auto status = scans->Status(job);
      if (!status) return SendError(res, 500, status.error().message);
      out.push_back(std::move(*status));
    }
    SendJson(res, out);
  });

  http.Get(R"(/api/scans/(\d+))",
           [scans, guard](const httplib::Request& req, httplib::Response& res) {
             if (!guard(res)) return;
             auto job = JobOf(*scans, req, res);
             if (!job) return;
             auto status = scans->Status(*job);
             if (!status) return SendError(res, 500, status.error().message);
             SendJson(res, *status);
           });

  // Server-sent events: one "data:" line of the job's status each time it changes (checked every
  // 500 ms), then "event: end" once every host has finished.
  http.Get(R"(/api/scans/(\d+)/stream)", [scans, guard](const httplib::Request& req,
                                                        httplib::Response& res) {
    if (!guard(res)) return;
    auto job = JobOf(*scans, req, res);
    if (!job) return;
    const std::int64_t id = job->id;
    res.set_header("Cache-Control", "no-store");
    res.set_chunked_content_provider(
        "text/event-stream",
        [scans, id, last = std::string()](std::size_t, httplib::DataSink& sink) mutable {
          auto job = scans->jobs().Get(id);
          if (!job || !*job) {
            sink.done();
            return false;
          }
          auto status = scans->Status(**job);
          if (!status) {
            std::string line =
                "event: error\ndata: " + json{{"error", status.error().message}}.dump() + "\n\n";
            sink.write(line.data(), line.size());
            sink.done();
            return true;
          }
          const std::string text = status->dump();
          if (text != last) {
            last = text;
            std::string line = "data: " + text + "\n\n";
            if (!sink.write(line.data(), line.size())) return false;
          }
          if ((*status)["finished"].get<bool>() && (**job).every_ns == 0) {
            std::string end = "event: end\ndata: {}\n\n";
            sink.write(end.data(), end.size());
            sink.done();
            return true;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
          return sink.is_writable();
        });
  });

  // The findings of a job's runs (events of category scan, event.action yara_match or, for a
  // hash sweep, hash_match).
  http.Get(R"(/api/scans/(\d+)/findings)",
           [scans, guard, &ctx](const httplib::Request& req, httplib::Response& res) {
             if (!guard(res)) return;
             auto job = JobOf(*scans, req, res);
             if (!job) return;
             store::EventQuery query;
             query.category = schema::Category::Scan;
             query.since_ns = job->created_ns - 60'000'000'000LL;
             query.limit = 100000;
             query.newest_first = false;
             const std::string prefix = std::to_string(job->id) + ".";
             std::string out;
             auto r = ctx.store.QueryEvents(query, [&](v1::Event&& e) {
               if ((e.event_action() == "yara_match" || e.event_action() == "hash_match") &&
                   e.vigil_scan_id().starts_with(prefix))
                 out += EventToJson(e).dump() + "\n";
               return true;
             });
             if (!r) return SendError(res, 500, r.error().message);
             res.set_content(out, "application/x-ndjson");
           });

  http.Post(R"(/api/scans/(\d+)/(pause|resume|cancel))",
            [scans, guard, &ctx](const httplib::Request& req, httplib::Response& res) {
              if (!guard(res)) return;
              auto job = JobOf(*scans, req, res);
              if (!job) return;
              if (!ctx.actions)
                return SendError(res, 503, "the server runs without the command channel");
              const std::string op = req.matches[2];
              std::string reason;  // optional body {"reason": "..."} for the audit log
              if (!req.body.empty()) {
                auto body = ParseJsonObject(req, res);
                if (!body) return;
                reason = body->value("reason", "");
              }
              auto runs = scans->jobs().Runs(job->id);
              if (!runs) return SendError(res, 500, runs.error().message);
              if (op == "cancel")
                if (auto r = scans->jobs().SetStatus(job->id, "cancelled"); !r)
                  return SendError(res, 500, r.error().message);
              json out{{"id", job->id}, {"op", op}};
              if (!runs->empty()) {
                const std::string scan_id = ScanId(job->id, runs->front().run);
                json params{{"job", scan_id}, {"op", op}};
                auto who = Caller(ctx, req);
                auto action = ctx.actions->Create({.actor = who ? who->name : "",
                                                   .type = "scan_control",
                                                   .params = params.dump(),
                                                   .reason = reason,
                                                   .agent_ids = job->agent_ids,
                                                   .payload = ""});
                if (!action) return SendError(res, 500, action.error().message);
                out["action"] = action->id;
                out["scan_id"] = scan_id;
              }
              SendJson(res, out);
            });
}

}  // namespace vigil::server
