// vigil-server: the gateway for agents, the store and the HTTPS API in one process.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "common/log.hpp"
#include "common/pki/pki.hpp"
#include "common/time.hpp"
#include "detect/detector.hpp"
#include "server/api/api_server.hpp"
#include "server/gateway/gateway.hpp"
#include "server/store/store.hpp"

namespace fs = std::filesystem;
using namespace vigil;

namespace {

Result<std::unique_ptr<store::Store>> OpenStore(
    const fs::path& data_dir, std::optional<std::uint64_t> min_free = std::nullopt,
    bool column_blocks = false) {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return Fail("cannot create data dir " + data_dir.string() + ": " + ec.message());
  ::chmod(data_dir.c_str(), 0700);
  if (::access(data_dir.c_str(), W_OK) != 0)
    return Fail("data dir " + data_dir.string() + " is not writable: " + std::strerror(errno));
  return store::OpenSqliteStore({.path = data_dir / "vigil.db", .column_blocks = column_blocks},
                                {.min_free_bytes = min_free});
}

// The store of a data dir a server has run in: token commands must not start a new, empty one
// (a mistyped --data-dir would print a token no running server knows).
Result<std::unique_ptr<store::Store>> OpenExistingStore(const fs::path& data_dir) {
  std::error_code ec;
  if (!fs::exists(data_dir / "vigil.db", ec))
    return Fail("no Vigil server data in " + data_dir.string() +
                " (pass the server's --data-dir or VIGIL_DATA_DIR, or start it once there: "
                "vigil-server run --data-dir " +
                data_dir.string() + ")");
  return OpenStore(data_dir);
}

Result<std::uint64_t> ParseSize(const std::string& text) {
  if (text.empty()) return 0;
  std::size_t used = 0;
  double n = 0;
  try {
    n = std::stod(text, &used);
  } catch (const std::exception&) {
    return Fail("bad size '" + text + "': expected e.g. 500M, 20G");
  }
  if (!(n >= 0) || n > 1e18) return Fail("bad size '" + text + "': expected e.g. 500M, 20G");
  std::string unit = text.substr(used);
  double mult = 1;
  if (unit == "K" || unit == "KiB")
    mult = 1024;
  else if (unit == "M" || unit == "MiB")
    mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TiB")
    mult = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty())
    return Fail("bad size '" + text + "': unknown unit " + unit);
  return static_cast<std::uint64_t>(n * mult);
}

// Where the built console is: --console-dir, else installed next to the binary
// (BIN/../share/vigil/console), else the web/dist of the source tree it was built from.
fs::path ConsoleDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  std::error_code ec;
  const fs::path bin = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (const fs::path& candidate :
       {bin / "../share/vigil/console", fs::path(VIGIL_SOURCE_DIR) / "web/dist"})
    if (fs::exists(candidate / "index.html", ec)) return fs::weakly_canonical(candidate, ec);
  return {};
}

int Run(const fs::path& data_dir, const std::string& agent_listen, const std::string& api_listen,
        const std::vector<std::string>& names, const std::string& retention_age,
        const std::string& retention_size, const std::string& min_free,
        const std::string& console_dir, const std::string& session_ttl,
        const std::string& suppress_window, const std::string& store_layout) {
  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::optional<std::uint64_t> min_free_bytes;
  if (!min_free.empty()) {
    auto parsed = ParseSize(min_free);
    if (!parsed)
      return std::cerr << "vigil-server: --min-free: " << parsed.error().message << "\n", 2;
    min_free_bytes = *parsed;
  }
  auto store = OpenStore(data_dir, min_free_bytes, store_layout == "blocks");
  if (!store) return std::cerr << "vigil-server: " << store.error().message << "\n", 1;
  auto pki = pki::EnsureServerPki(data_dir, names);
  if (!pki) return std::cerr << "vigil-server: " << pki.error().message << "\n", 1;

  store::RetentionPolicy retention;
  if (!retention_age.empty()) {
    auto age = ParseDurationNs(retention_age);
    if (!age)
      return std::cerr << "vigil-server: --retention-age: " << age.error().message << "\n", 2;
    retention.max_age_ns = *age;
  }
  auto size = ParseSize(retention_size);
  if (!size)
    return std::cerr << "vigil-server: --retention-size: " << size.error().message << "\n", 2;
  retention.max_bytes = *size;

  const fs::path admin_token = data_dir / "admin.token";
  if (!fs::exists(admin_token)) {
    auto token = (*store)->CreateApiToken("admin", store::Role::Admin);
    if (!token) return std::cerr << "vigil-server: " << token.error().message << "\n", 1;
    if (auto w = pki::WriteFileAtomic(admin_token, *token + "\n", 0600); !w)
      return std::cerr << "vigil-server: " << w.error().message << "\n", 1;
  }

  auto ttl = ParseDurationNs(session_ttl);
  if (!ttl || *ttl <= 0)
    return std::cerr << "vigil-server: --session-ttl: "
                     << (ttl ? "must be positive" : ttl.error().message) << "\n",
           2;

  // Live detection: every committed event goes through the enabled rules (docs/detection.md).
  auto detection = store::DetectionStore::Open(data_dir / "vigil.db");
  if (!detection) return std::cerr << "vigil-server: " << detection.error().message << "\n", 1;
  auto detection_state = store::DetectionStateStore::Open(data_dir / "vigil.db");
  if (!detection_state)
    return std::cerr << "vigil-server: " << detection_state.error().message << "\n", 1;
  detect::DetectorOptions detector_options;
  detector_options.state_store = detection_state->get();
  auto window = ParseDurationNs(suppress_window);
  if (!window)
    return std::cerr << "vigil-server: --alert-suppress-window: " << window.error().message << "\n",
           2;
  detector_options.suppress_window_ns = *window;
  // Test hook (e2e): events are stored and acked but not evaluated until a server without it.
  detector_options.paused = std::getenv("VIGIL_TEST_DETECTION_PAUSED") != nullptr;
  detect::Detector detector(detector_options, **detection, **store);
  if (auto r = detector.InstallBuiltinRules(); !r)
    return std::cerr << "vigil-server: " << r.error().message << "\n", 1;
  if (auto r = detector.Reload(); !r)
    return std::cerr << "vigil-server: " << r.error().message << "\n", 1;
  if (auto r = detector.Start(); !r)
    return std::cerr << "vigil-server: " << r.error().message << "\n", 1;
  (*store)->AddCommitListener([&detector](std::span<const store::IngestBatch> batches,
                                          const std::vector<store::AppendResult>& results) {
    detector.OnCommitted(batches, results);
  });

  auto colon = api_listen.rfind(':');
  server::ApiOptions api_options{.host = api_listen.substr(0, colon),
                                 .port = std::atoi(api_listen.c_str() + colon + 1),
                                 .pki = *pki,
                                 .db_path = data_dir / "vigil.db",
                                 .console_dir = ConsoleDir(console_dir),
                                 .session_ttl_ns = *ttl,
                                 .detection = detection->get(),
                                 .detector = &detector};
  if (api_options.console_dir.empty())
    VLOG_WARN("the web console is not built (web/dist); the API runs without it");
  auto actions = store::ActionStore::Open(data_dir / "vigil.db");
  if (!actions) return std::cerr << "vigil-server: actions: " << actions.error().message << "\n", 1;
  server::Gateway gateway({.listen = agent_listen, .pki = *pki}, **store, actions->get());
  // The API subscribes to the store's commits (live events) before the gateway appends any.
  server::ApiServer api(api_options, **store, [&] { return gateway.ConnectedAgents(); });
  api.SetActions(actions->get(), [&] { return gateway.CommandChannels(); });
  if (auto r = gateway.Start(); !r)
    return std::cerr << "vigil-server: " << r.error().message << "\n", 1;
  if (auto r = api.Start(); !r)
    return std::cerr << "vigil-server: " << r.error().message << "\n", 1;
  std::string url = "https://" + api_options.host + ":" + std::to_string(api_options.port);
  (void)pki::WriteFileAtomic(data_dir / "api.url", url + "\n", 0644);
  std::cout << "vigil-server: API " << url << ", agents on " << agent_listen << ", data in "
            << data_dir.string() << std::endl;

  std::mutex mutex;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::thread retention_thread([&] {
    std::unique_lock lock(mutex);
    while (!stop_cv.wait_for(lock, std::chrono::seconds(60), [&] { return stopping; })) {
      if (!retention.max_age_ns && !retention.max_bytes) continue;
      lock.unlock();
      if (auto r = (*store)->ApplyRetention(retention); !r)
        VLOG_WARN("retention: {}", r.error().message);
      else if (r->deleted_events)
        VLOG_INFO("retention: deleted {} events, store now {} bytes", r->deleted_events,
                  r->bytes_after);
      lock.lock();
    }
  });

  int signal = 0;
  sigwait(&stop_signals, &signal);
  VLOG_INFO("stopping (signal {})", signal);
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  stop_cv.notify_all();
  retention_thread.join();
  api.Stop();
  gateway.Shutdown();
  detector.Stop();  // the store's listener outlives it but no Append comes after the gateway;
                    // what is not evaluated yet is, after the cursors, by the next start
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that hangs up mid-write (an HTTPS client, a refused upload) is an error to handle, not a
  // reason to die: TLS writes go through write(2), which raises SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"vigil-server: receives agents' telemetry, stores it, serves the HTTPS API"};
  app.require_subcommand(1);
  std::string data_dir =
      std::getenv("VIGIL_DATA_DIR") ? std::getenv("VIGIL_DATA_DIR") : "/var/lib/vigil";

  auto* run = app.add_subcommand("run", "Run the server (until SIGINT/SIGTERM)");
  std::string agent_listen = "0.0.0.0:8444", api_listen = "127.0.0.1:8443";
  std::vector<std::string> names;
  std::string retention_age, retention_size;
  run->add_option("--data-dir", data_dir, "Data directory (env VIGIL_DATA_DIR)")
      ->capture_default_str();
  run->add_option("--agent-listen", agent_listen, "gRPC address for agents")->capture_default_str();
  run->add_option("--api-listen", api_listen, "HTTPS API address")->capture_default_str();
  run->add_option("--server-name", names, "Extra DNS name or IP for the server certificate");
  run->add_option("--retention-age", retention_age, "Delete events older than this (e.g. 30d)");
  run->add_option("--retention-size", retention_size, "Keep the store under this size (e.g. 20G)");
  std::string min_free;
  run->add_option("--min-free", min_free,
                  "Pause ingest while the data dir's filesystem has less free than this (agents "
                  "keep their events and resend them; 0: never pause). Default: 5% of the "
                  "filesystem, at least 128M (half of a smaller filesystem), at most 1G");
  std::string console_dir, session_ttl = "12h";
  run->add_option("--console-dir", console_dir,
                  "The built web console (default: BIN/../share/vigil/console or web/dist of "
                  "the source tree)");
  run->add_option("--session-ttl", session_ttl, "Console logins expire after this")
      ->capture_default_str();
  std::string store_layout = "blocks";
  run->add_option("--store-layout", store_layout,
                  "How a new data dir's store keeps events: blocks (compressed column blocks, "
                  "every key in postings indexes: ~3x the ingest rate of rows at a quarter of the "
                  "size) or rows (a row per event with B-tree indexes: faster random lookups by "
                  "id; docs/store.md). An existing store keeps its layout")
      ->check(CLI::IsMember({"rows", "blocks"}))
      ->capture_default_str();
  std::string suppress_window = "1h";
  run->add_option("--alert-suppress-window", suppress_window,
                  "Repeats of a rule on the same host and process within this window add to one "
                  "alert's count (0s: never fold)")
      ->capture_default_str();

  auto* token = app.add_subcommand("token", "Enrollment tokens");
  token->require_subcommand(1);
  auto* create = token->add_subcommand("create", "Print a new single-use enrollment token");
  std::string ttl = "24h";
  create->add_option("--ttl", ttl, "How long the token is valid")->capture_default_str();
  create->add_option("--data-dir", data_dir, "Data directory (env VIGIL_DATA_DIR)")
      ->capture_default_str();

  auto* api_token = app.add_subcommand("api-token", "API bearer tokens");
  api_token->require_subcommand(1);
  auto* api_create =
      api_token->add_subcommand("create", "Print a new API token for a person or a tool");
  std::string token_name, token_role = "viewer";
  api_create->add_option("--name", token_name, "Who or what uses it (shown as owner)")->required();
  api_create->add_option("--role", token_role, "viewer (reads), analyst (also acts), admin")
      ->check(CLI::IsMember({"viewer", "analyst", "admin"}))
      ->capture_default_str();
  api_create->add_option("--data-dir", data_dir, "Data directory (env VIGIL_DATA_DIR)")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  if (*run)
    return Run(data_dir, agent_listen, api_listen, names, retention_age, retention_size, min_free,
               console_dir, session_ttl, suppress_window, store_layout);

  if (*api_create) {
    auto store = OpenExistingStore(data_dir);
    if (!store) return std::cerr << "vigil-server: " << store.error().message << "\n", 1;
    auto secret = (*store)->CreateApiToken(token_name, *store::ParseRole(token_role));
    if (!secret) return std::cerr << "vigil-server: " << secret.error().message << "\n", 1;
    std::cout << *secret << std::endl;
    return 0;
  }

  if (*create) {
    auto ttl_ns = ParseDurationNs(ttl);
    if (!ttl_ns) return std::cerr << "vigil-server: --ttl: " << ttl_ns.error().message << "\n", 2;
    auto store = OpenExistingStore(data_dir);
    if (!store) return std::cerr << "vigil-server: " << store.error().message << "\n", 1;
    auto pki = pki::EnsureServerPki(data_dir);
    if (!pki) return std::cerr << "vigil-server: " << pki.error().message << "\n", 1;
    auto ca = pki::ReadFile(pki->ca_cert);
    auto fingerprint =
        ca ? pki::CertFingerprint(*ca) : Result<std::string>(std::unexpected(ca.error()));
    if (!fingerprint)
      return std::cerr << "vigil-server: " << fingerprint.error().message << "\n", 1;
    auto secret = (*store)->CreateEnrollmentToken(*ttl_ns);
    if (!secret) return std::cerr << "vigil-server: " << secret.error().message << "\n", 1;
    // The token carries the CA's fingerprint so the agent can trust the server before it has its
    // CA.
    std::cout << *secret << "." << *fingerprint << std::endl;
    return 0;
  }
  return 0;
}
