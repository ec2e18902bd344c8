// See scan_jobs.hpp.
#include "agent/scan/scan_jobs.hpp"

#include <atomic>
#include <cctype>
#include <set>

#include "agent/enrich/hash_cache.hpp"
#include "agent/scan/file_scanner.hpp"
#include "agent/scan/hash_list.hpp"
#include "agent/scan/hash_sweep.hpp"
#include "agent/scan/memory_scanner.hpp"
#include "agent/scan/rule_package.hpp"
#include "agent/scan/scan_cache.hpp"
#include "agent/scan/schedule.hpp"
#include "common/file_io.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

namespace vigil::agent::scan {
namespace {
using nlohmann::json;

// The unchanged-file cache and the sweeps' hash cache files are shared by jobs; loads and saves
// take turns.
std::mutex cache_file_mu;
constexpr std::size_t kSweepHashCacheEntries = 1 << 18;

struct JobSpec {
  std::string id, kind;
  std::int64_t run = 1;
  std::string rules_sha256;
  std::vector<RuleSource> sources;
  std::set<std::string> sha256;  // kind hash
  std::vector<std::string> paths, excludes;
  double max_size_mb = 100, cpu = 5, io = 0;
  bool one_fs = false;
  std::vector<pid_t> pids;
  std::optional<TimeWindow> window;
  std::int64_t splay_seconds = 0;
  int threads = 1, timeout_seconds = 60;
};

Result<JobSpec> ParseSpec(const json& p) {
  JobSpec s;
  try {
    s.id = p.at("job").get<std::string>();
    if (s.id.empty() || s.id.size() > 64) return Fail("scan: \"job\" must be a short id");
    s.kind = p.at("kind").get<std::string>();
    if (s.kind != "files" && s.kind != "memory" && s.kind != "hash")
      return Fail("scan: \"kind\" must be files, memory or hash, not '" + s.kind + "'");
    s.run = p.value("run", std::int64_t{1});
    if (s.kind == "hash") {
      auto list = ParseSha256List(p.at("sha256").get<std::vector<std::string>>());
      if (!list) return Fail("scan: " + list.error().message);
      s.sha256 = std::move(*list);
      s.rules_sha256 = Sha256ListDigest(s.sha256);
    } else {
      const auto& rules = p.at("rules");
      s.rules_sha256 = rules.value("sha256", "");
      auto sources = UnpackSources(rules.at("sources"));
      if (!sources) return std::unexpected(sources.error());
      s.sources = std::move(*sources);
    }
    s.paths = p.value("paths", std::vector<std::string>{});
    s.excludes = p.value("exclude", std::vector<std::string>{});
    if (s.kind != "memory" && s.paths.empty())
      return Fail("scan: a " + s.kind + " scan needs \"paths\"");
    s.max_size_mb = p.value("max_size_mb", 100.0);
    s.one_fs = p.value("one_fs", false);
    s.pids = p.value("pids", std::vector<pid_t>{});
    s.cpu = p.value("cpu", 5.0);
    s.io = p.value("io", 0.0);
    if (auto w = p.value("window", std::string()); !w.empty()) {
      auto parsed = ParseWindow(w);
      if (!parsed) return Fail("scan: window: " + parsed.error().message);
      s.window = *parsed;
    }
    s.splay_seconds = p.value("splay_seconds", std::int64_t{0});
    s.threads = std::clamp(p.value("threads", 1), 1, 16);
    s.timeout_seconds = std::clamp(p.value("timeout_seconds", 60), 1, 3600);
  } catch (const std::exception& e) {
    return Fail(std::string("scan: malformed payload: ") + e.what());
  }
  return s;
}

}  // namespace

struct ScanJobs::Job {
  JobSpec spec;
  ScanControl control;
  std::thread thread;
  std::atomic<bool> finished{false};
};

ScanJobs::ScanJobs(ScanJobsOptions options) : options_(std::move(options)) {}

ScanJobs::~ScanJobs() {
  stopping_ = true;
  std::map<std::string, std::shared_ptr<Job>> jobs;
  {
    std::lock_guard lock(mu_);
    jobs.swap(jobs_);
  }
  for (auto& [id, job] : jobs) job->control.Cancel();
  for (auto& [id, job] : jobs)
    if (job->thread.joinable()) job->thread.join();
}

void ScanJobs::Reap() {
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (it->second->finished.load()) {
      if (it->second->thread.joinable()) it->second->thread.join();
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
}

std::size_t ScanJobs::Running() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [id, job] : jobs_) n += job->finished.load() ? 0 : 1;
  return n;
}

std::filesystem::path ScanJobs::JobFile(const std::string& id, const char* ext) const {
  std::string name;
  for (char c : id)
    name += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
  return options_.state_dir / "scan" / "jobs" / (name + ext);
}

std::size_t ScanJobs::ResumeInterrupted() {
  std::error_code ec;
  std::size_t resumed = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(options_.state_dir / "scan" / "jobs", ec)) {
    if (entry.path().extension() != ".job") continue;
    auto pos_file = entry.path();
    pos_file.replace_extension(".pos");
    auto drop = [&](const std::string& why) {
      VLOG_WARN("scan job {} not resumed: {}", entry.path().string(), why);
      std::filesystem::remove(entry.path(), ec);
      std::filesystem::remove(pos_file, ec);
    };
    auto text = ReadWholeFile(entry.path());
    if (!text || !*text) {
      drop(text ? "gone" : text.error().message);
      continue;
    }
    json payload = json::parse(**text, nullptr, false);
    if (payload.is_discarded()) {
      drop("damaged");
      continue;
    }
    Checkpoint position;
    if (auto pos = ReadWholeFile(pos_file); pos && *pos)
      position = Checkpoint::FromJson(json::parse(**pos, nullptr, false));
    auto started = StartJob(payload, position);
    if (!started) {
      drop(started.error().message);
      continue;
    }
    VLOG_INFO("scan job {} resumed after {} file(s), {} finding(s) already reported",
              payload.value("job", ""), position.done, position.findings);
    ++resumed;
  }
  return resumed;
}

Result<json> ScanJobs::Start(const json& payload) { return StartJob(payload, std::nullopt); }

Result<json> ScanJobs::StartJob(const json& payload, std::optional<Checkpoint> resume) {
  auto spec = ParseSpec(payload);
  if (!spec) return std::unexpected(spec.error());
  // Compiled here, before answering, so bad rules fail the command itself.
  std::shared_ptr<const RuleSet> rules;
  std::string version = spec->rules_sha256;  // a hash sweep: its list's digest
  if (spec->kind != "hash") {
    auto compiled = RuleSet::FromSources(spec->sources);
    if (!compiled) return Fail("scan: " + compiled.error().message);
    if (!spec->rules_sha256.empty() && (*compiled)->version() != spec->rules_sha256)
      return Fail("scan: the rules' digest " + (*compiled)->version() + " is not the job's " +
                  spec->rules_sha256);
    rules = *compiled;
    version = rules->version();
  }
  spec->sources.clear();

  std::lock_guard lock(mu_);
  Reap();
  if (auto it = jobs_.find(spec->id); it != jobs_.end())
    return json{{"accepted", spec->id}, {"already_running", true}};
  if (static_cast<int>(jobs_.size()) >= options_.max_jobs)
    return Fail("scan: " + std::to_string(options_.max_jobs) + " scans are running already");

  auto job = std::make_shared<Job>();
  job->spec = std::move(*spec);
  const std::string id = job->spec.id;
  // Memory scans are not resumed (the processes a restart finds are others).
  const bool resumable = job->spec.kind != "memory";
  const auto job_file = JobFile(id, ".job"), pos_file = JobFile(id, ".pos");
  if (resumable && !resume)
    if (auto r = WriteFileAtomic(job_file, payload.dump()); !r)
      VLOG_WARN("scan {}: not resumable after a restart: {}", id, r.error().message);
  job->thread = std::thread([this, job, rules, version, resumable, resume, job_file, pos_file] {
    const JobSpec& s = job->spec;
    ScanContext context{s.id, version, options_.host.host_id, options_.host.hostname,
                        options_.host.boot_id};
    auto progress_event = [&](const Progress& p, std::string_view status,
                              const std::string& error) {
      v1::Event e;
      e.set_timestamp(NowNs());
      e.set_event_category("scan");
      e.set_event_type("info");
      e.set_event_action("scan_progress");
      e.set_event_outcome(status == "failed" ? "failure" : "success");
      e.set_host_id(options_.host.host_id);
      e.set_host_name(options_.host.hostname);
      e.set_vigil_scan_id(s.id);
      e.set_vigil_scan_rules_version(version);
      e.set_vigil_scan_kind(s.kind);
      e.set_vigil_scan_status(std::string(status));
      e.set_vigil_scan_files_total(static_cast<std::int64_t>(p.files_total));
      e.set_vigil_scan_files_done(static_cast<std::int64_t>(p.files_done));
      auto& extra = *e.mutable_extra();
      extra[std::string(kExtraFilesCached)] = std::to_string(p.files_cached);
      if (s.kind == "hash") extra[std::string(kExtraFilesHashed)] = std::to_string(p.files_hashed);
      e.set_vigil_scan_bytes_total(static_cast<std::int64_t>(p.bytes_total));
      e.set_vigil_scan_bytes_done(static_cast<std::int64_t>(p.bytes_done));
      e.set_vigil_scan_processes_total(static_cast<std::int64_t>(p.processes_total));
      e.set_vigil_scan_processes_done(static_cast<std::int64_t>(p.processes_done));
      e.set_vigil_scan_findings(static_cast<std::int64_t>(p.findings));
      e.set_vigil_scan_errors(static_cast<std::int64_t>(p.errors + p.timeouts));
      if (p.eta) e.set_vigil_scan_eta_seconds(p.eta->count());
      if (!error.empty()) e.set_error_message(error);
      options_.emit(std::move(e));
    };

    GovernorOptions governor;
    governor.cpu_percent = s.cpu;
    governor.io_mbps = s.io;
    if (s.window) governor.schedule.window = *s.window;
    governor.schedule.splay = std::chrono::seconds(s.splay_seconds);
    const bool waits = s.window.has_value() || s.splay_seconds > 0;
    if (!resume) progress_event(Progress{}, waits ? "waiting" : "running", "");
    CheckpointSink save_position;
    if (resumable)
      save_position = [&](const Checkpoint& c) {
        if (auto r = WriteFileAtomic(pos_file, c.ToJson().dump()); !r)
          VLOG_WARN("scan {}: position not saved: {}", s.id, r.error().message);
      };
    const Checkpoint* resume_from = resume ? &*resume : nullptr;

    // A resumed run reports its position with the first progress it makes.
    auto last = resume ? std::chrono::steady_clock::time_point{} : std::chrono::steady_clock::now();
    ProgressCallback on_progress = [&](const Progress& p) {
      if (p.finished) return;  // the final event below says how it ended
      const auto now = std::chrono::steady_clock::now();
      if (now - last < options_.progress_interval) return;
      last = now;
      progress_event(p, job->control.paused() ? "paused" : "running", "");
    };
    EventSink sink = [&](const v1::Event& e) { options_.emit(v1::Event(e)); };
    SystemClock clock;

    WalkOptions walk;
    walk.paths = s.paths;
    walk.excludes = s.excludes;
    walk.max_size = static_cast<std::uint64_t>(s.max_size_mb * 1e6);
    walk.one_fs = s.one_fs;
    Result<ScanSummary> summary = Fail("not run");
    if (s.kind == "hash") {
      HashSweepOptions o;
      o.walk = walk;
      o.sha256 = s.sha256;
      o.threads = s.threads;
      o.governor = governor;
      HashCache hashes(kSweepHashCacheEntries);
      const auto cache_file = options_.state_dir / "scan" / "hash-cache.bin";
      {
        std::lock_guard lock(cache_file_mu);
        if (auto loaded = hashes.Load(cache_file); !loaded)
          VLOG_WARN("sweep {}: {} (starting with an empty hash cache)", s.id,
                    loaded.error().message);
      }
      o.hashes = &hashes;
      o.resume = resume_from;
      o.checkpoint = save_position;
      HashSweeper sweeper(std::move(o), context);
      summary = sweeper.Run(job->control, clock, sink, on_progress);
      std::lock_guard lock(cache_file_mu);
      if (auto saved = hashes.Save(cache_file); !saved)
        VLOG_WARN("sweep {}: hash cache not saved: {}", s.id, saved.error().message);
    } else if (s.kind == "files") {
      FileScanOptions o;
      o.walk = walk;
      o.threads = s.threads;
      o.timeout_seconds = s.timeout_seconds;
      o.governor = governor;
      ScanCache cache;
      const auto cache_file = options_.state_dir / "scan" / "file-cache.bin";
      {
        std::lock_guard lock(cache_file_mu);
        if (auto loaded = cache.Load(cache_file); !loaded)
          VLOG_WARN("scan {}: {} (starting with an empty cache)", s.id, loaded.error().message);
      }
      o.cache = &cache;
      HashCache hashes(4096);
      o.hashes = &hashes;
      o.resume = resume_from;
      o.checkpoint = save_position;
      FileScanner scanner(rules, std::move(o), context);
      summary = scanner.Run(job->control, clock, sink, on_progress);
      std::lock_guard lock(cache_file_mu);
      if (auto saved = cache.Save(cache_file); !saved)
        VLOG_WARN("scan {}: unchanged-file cache not saved: {}", s.id, saved.error().message);
    } else {
      MemoryScanOptions o;
      o.pids = s.pids;
      o.threads = s.threads;
      o.timeout_seconds = s.timeout_seconds;
      o.governor = governor;
      MemoryScanner scanner(rules, std::move(o), context);
      summary = scanner.Run(job->control, clock, sink, on_progress);
    }
    // Cancelled by the agent's stop: kept (job and position files) to resume on the next start.
    const bool interrupted = stopping_.load() && summary && summary->cancelled && resumable;
    if (!summary)
      progress_event(Progress{}, "failed", summary.error().message);
    else if (!interrupted)
      progress_event(summary->progress, summary->cancelled ? "cancelled" : "done", "");
    if (!interrupted) {
      std::error_code ec;
      std::filesystem::remove(job_file, ec);
      std::filesystem::remove(pos_file, ec);
    }
    VLOG_INFO("scan {} ({}) {}", s.id, s.kind,
              !summary      ? "failed: " + summary.error().message
              : interrupted ? std::string("interrupted by the agent's stop; resumes on restart")
              : summary->cancelled
                  ? std::string("cancelled")
                  : "done: " + std::to_string(summary->progress.findings) + " finding(s)");
    job->finished.store(true);
  });
  jobs_.emplace(id, std::move(job));
  return json{{"accepted", id}, {"rules_version", version}};
}

Result<json> ScanJobs::Control(const json& payload) {
  std::string id, op;
  try {
    id = payload.at("job").get<std::string>();
    op = payload.at("op").get<std::string>();
  } catch (const std::exception& e) {
    return Fail(std::string("scan_control: malformed payload: ") + e.what());
  }
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second->finished.load())
    return Fail("scan_control: no scan " + id + " is running on this host");
  auto& control = it->second->control;
  if (op == "pause")
    control.Pause();
  else if (op == "resume")
    control.Resume();
  else if (op == "cancel")
    control.Cancel();
  else
    return Fail("scan_control: op must be pause, resume or cancel, not '" + op + "'");
  return json{{"job", id}, {"op", op}};
}

}  // namespace vigil::agent::scan
