// vigil-agent: enrolls with a server once, then runs the sensor -> enrich -> spool -> uplink
// pipeline until stopped.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "agent/enrich/enricher.hpp"
#include "agent/guard/denial_listener.hpp"
#include "agent/guard/guard_command.hpp"
#include "agent/response/responder.hpp"
#include "agent/scan/scan_command.hpp"
#include "agent/scan/scan_jobs.hpp"
#include "agent/sensor/replay_source.hpp"
#include "agent/sensor/sensor_factory.hpp"
#include "agent/spool/spool.hpp"
#include "agent/uplink/command_channel.hpp"
#include "agent/uplink/uplink.hpp"
#include "common/host_info.hpp"
#include "common/log.hpp"
#include "common/pki/pki.hpp"
#include "common/time.hpp"
#include "vigil/v1/gateway.grpc.pb.h"

namespace fs = std::filesystem;
using namespace vigil;

namespace {

struct AgentState {
  std::string agent_id;
  std::string server;
};

int Die(const std::string& message, int code = 1) {
  std::cerr << "vigil-agent: " << message << std::endl;
  return code;
}

Result<AgentState> LoadState(const fs::path& dir) {
  auto text = pki::ReadFile(dir / "agent.json");
  if (!text)
    return Fail("not enrolled (no " + (dir / "agent.json").string() +
                "): run `vigil-agent enroll --server HOST:PORT --token TOKEN` first");
  try {
    auto j = nlohmann::json::parse(*text);
    return AgentState{j.at("agent_id").get<std::string>(), j.at("server").get<std::string>()};
  } catch (const std::exception& e) {
    return Fail((dir / "agent.json").string() + ": " + e.what());
  }
}

int Enroll(const fs::path& state_dir, const std::string& server, const std::string& token) {
  auto dot = token.find('.');
  if (dot == std::string::npos || dot == 0 || token.size() - dot - 1 != 64)
    return Die(
        "malformed token: expected SECRET.CA_FINGERPRINT as printed by `vigil-server token create`",
        2);
  auto colon = server.rfind(':');
  if (colon == std::string::npos) return Die("--server must be HOST:PORT", 2);
  std::string host = server.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  int port = std::atoi(server.c_str() + colon + 1);

  auto ca = pki::FetchPinnedCa(host, port, token.substr(dot + 1));
  if (!ca) return Die(ca.error().message);
  auto key = pki::MakeKeyAndCsr();
  if (!key) return Die(key.error().message);

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = *ca;
  auto stub = v1::AgentGateway::NewStub(grpc::CreateChannel(server, grpc::SslCredentials(ssl)));
  v1::EnrollRequest request;
  request.set_token(token);
  request.set_csr_pem(key->csr_pem);
  request.set_hostname(ReadHostInfo().hostname);
  v1::EnrollResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  auto status = stub->Enroll(&context, request, &response);
  if (!status.ok()) return Die("enrollment refused by " + server + ": " + status.error_message());

  std::error_code ec;
  fs::create_directories(state_dir, ec);
  ::chmod(state_dir.c_str(), 0700);
  nlohmann::json state{{"agent_id", response.agent_id()}, {"server", server}};
  for (auto [name, content, mode] : {std::tuple{"agent.key", key->key_pem, 0600u},
                                     std::tuple{"agent.crt", response.certificate_pem(), 0644u},
                                     std::tuple{"ca.crt", response.ca_pem(), 0644u},
                                     std::tuple{"agent.json", state.dump(2) + "\n", 0644u}}) {
    if (auto w = pki::WriteFileAtomic(state_dir / name, content, mode); !w)
      return Die(w.error().message);
  }
  std::cout << "enrolled as " << response.agent_id() << " with " << server << std::endl;
  return 0;
}

std::atomic<bool> g_stop{false};

struct RunOptions {
  std::string state_dir = "/var/lib/vigil-agent";
  std::string sensor = "auto";
  std::string replay_file;
  double replay_rate = 0;
  std::uint64_t spool_max_mib = 1024;
  bool simulate_no_ebpf = false;
  std::string syscall_hooks = "auto";
  int fork_hold_ms = 1000;
  std::size_t batch_events = 1000;
  int window = 8;
  int send_interval_ms = 500;
  bool pause_signals = false;  // SIGUSR1 pauses the sensor, SIGUSR2 resumes it
};

// The event path allocates and frees in waves (a ring read's events, a batch's records). With
// glibc's defaults every wave gave its thread arena's top back to the kernel (madvise) and took it
// again (mprotect, then a page fault per page), in the traced processes' time slices on a small
// VM. Freed memory up to kTrimThreshold stays in the process instead (a wave is a few hundred
// KiB). Setting it turns off glibc's dynamic mmap threshold, so that is set too: the uplink's
// batch and compression buffers come from the heap instead of an mmap and munmap each. Both are
// small next to the agent's memory bound (bench/BENCHMARKS.md, *Agent resources*).
void KeepFreedHeap() {
  constexpr int kTrimThreshold = 4 << 20;
  constexpr int kMmapThreshold = 1 << 20;
  ::mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
  ::mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
}

int Run(const RunOptions& options) {
  KeepFreedHeap();
  const fs::path state_dir = options.state_dir;
  const std::string& sensor = options.sensor;
  const int send_interval_ms = options.send_interval_ms;
  auto state = LoadState(state_dir);
  if (!state) return Die(state.error().message);
  auto ca = pki::ReadFile(state_dir / "ca.crt");
  auto cert = pki::ReadFile(state_dir / "agent.crt");
  auto key = pki::ReadFile(state_dir / "agent.key");
  if (!ca || !cert || !key)
    return Die("incomplete enrollment in " + state_dir.string() + ": enroll again");

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (options.pause_signals) {
    sigaddset(&stop_signals, SIGUSR1);
    sigaddset(&stop_signals, SIGUSR2);
  }
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto spool =
      agent::Spool::Open({.dir = state_dir / "spool", .max_bytes = options.spool_max_mib << 20});
  if (!spool) return Die("spool: " + spool.error().message);
  auto spool_stats = (*spool)->Stats();
  if (spool_stats.discarded_bytes)
    VLOG_WARN("spool: discarded {} damaged bytes at start", spool_stats.discarded_bytes);
  VLOG_INFO("spool: {} bytes pending, next sequence {}", spool_stats.bytes,
            spool_stats.next_sequence);

  const HostInfo host = ReadHostInfo();
  std::unique_ptr<agent::EventSource> source;
  if (sensor == "replay") {
    if (options.replay_file.empty()) return Die("--sensor replay needs --replay FILE", 2);
    auto s = agent::MakeReplaySource(
        {.file = options.replay_file, .events_per_second = options.replay_rate});
    if (!s) return Die("replay: " + s.error().message);
    source = std::move(*s);
  } else if (sensor != "none") {
    auto hooks = agent::ParseSyscallHooks(options.syscall_hooks);
    if (!hooks) return Die(hooks.error().message, 2);
    // The ring is read on the uplink's tick (common/tick.hpp), at most a second apart.
    auto choice =
        agent::MakeSensor(sensor, options.simulate_no_ebpf,
                          {.poll_interval = std::min(std::chrono::milliseconds(send_interval_ms),
                                                     std::chrono::milliseconds(1000)),
                           .fork_hold = std::chrono::milliseconds(options.fork_hold_ms),
                           .syscall_hooks = *hooks});
    if (!choice) return Die("sensor: " + choice.error().message, sensor == "auto" ? 1 : 2);
    VLOG_INFO("sensor: {}", choice->note);
    source = std::move(choice->source);
  }
  // The hosts list says which sensor runs, and when it runs reduced.
  const std::string sensor_kind = source ? source->Description() : "none";
  std::atomic<bool> sensor_paused{false};  // --pause-signals
  auto reported_sensor_kind = [&] {
    return sensor_paused ? sensor_kind + " (paused)" : sensor_kind;
  };

  agent::Enricher enricher({.host = host, .agent_id = state->agent_id});
  std::mutex pipeline_mutex;
  std::atomic<std::uint64_t> spool_errors{0};
  agent::Spool& spool_ref = **spool;
  agent::response::Responder* responder_ptr = nullptr;  // set once the responder exists
  // Serialized events not yet in the spool: a source that reads in groups (SetBatchEnd) has its
  // group written with one AppendBatch at the group's end (or every kMaxPending events); every
  // other event is written before its sink call returns. Guarded by pipeline_mutex.
  constexpr std::size_t kMaxPending = 256;
  std::vector<std::string> pending(kMaxPending);
  std::vector<std::string_view> pending_views;
  std::size_t pending_count = 0;
  auto write_pending = [&] {
    if (pending_count == 0) return;
    pending_views.assign(pending.begin(), pending.begin() + pending_count);
    pending_count = 0;
    if (auto r = spool_ref.AppendBatch(pending_views); !r && spool_errors++ % 1000 == 0)
      VLOG_ERROR("spool append failed: {}", r.error().message);
  };
  auto add = [&](v1::Event& event) {
    enricher.Enrich(event);
    if (responder_ptr) responder_ptr->OnEvent(event);
    event.SerializeToString(&pending[pending_count++]);
  };
  auto sink = [&](v1::Event&& event) {
    std::lock_guard lock(pipeline_mutex);
    add(event);
    write_pending();
  };
  auto group_sink = [&](v1::Event&& event) {
    std::lock_guard lock(pipeline_mutex);
    add(event);
    if (pending_count == kMaxPending) write_pending();
  };
  auto group_end = [&] {
    std::lock_guard lock(pipeline_mutex);
    write_pending();
  };

  agent::UplinkOptions uplink_options;
  uplink_options.server = state->server;
  uplink_options.ca_pem = *ca;
  uplink_options.cert_pem = *cert;
  uplink_options.key_pem = *key;
  uplink_options.max_batch_events = options.batch_events;
  uplink_options.window = options.window;
  uplink_options.linger = std::chrono::milliseconds(send_interval_ms);
  // Power loss: a record is safe once it is synced (fdatasync) or acknowledged by the server (which
  // commits before it acks). While the uplink is connected it syncs the spool when a batch's ack is
  // 100 ms overdue, and at its tick (every 500 ms, or the send interval if shorter) when records
  // appended before the previous tick are still not acknowledged (unsent: the window is full), and
  // at every tick while that keeps happening. A record the server acknowledges in time is never
  // synced: at 100 execs/s each fdatasync was ~3.5 of the agent's ~18 wake-ups a second, for
  // records acked ~20 ms later. While the uplink is not connected the syncer thread below syncs
  // every 500 ms. Either way a record is safe within about 500 ms (+100) of its append.
  std::mutex sync_mutex;
  std::condition_variable sync_cv;
  bool uplink_syncs = false;
  std::uint64_t tick_next_sequence = 0;  // the spool's next sequence at the previous tick
  bool unacked_at_tick = false;          // the previous tick found old records not acknowledged
  uplink_options.on_tick = [&] {
    auto stats = spool_ref.Stats();
    const bool unacked = stats.acked_sequence + 1 < tick_next_sequence;
    if (unacked || unacked_at_tick) (void)spool_ref.Sync();
    unacked_at_tick = unacked;
    tick_next_sequence = stats.next_sequence;
  };
  uplink_options.on_ack_overdue = [&] { (void)spool_ref.Sync(); };
  uplink_options.tick_interval =
      std::min(std::chrono::milliseconds(send_interval_ms), std::chrono::milliseconds(500));
  uplink_options.on_connected = [&](bool connected) {
    {
      std::lock_guard lock(sync_mutex);
      uplink_syncs = connected;
    }
    sync_cv.notify_all();
  };
  uplink_options.hello = [&] {
    v1::Hello hello;
    hello.set_host_id(host.host_id);
    hello.set_hostname(host.hostname);
    hello.set_os(host.os);
    hello.set_agent_version(VIGIL_VERSION);
    hello.set_sensor_kind(reported_sensor_kind());
    hello.set_spool_epoch(spool_ref.Stats().epoch);
    return hello;
  };
  uplink_options.status = [&] {
    v1::AgentStatus status;
    auto s = spool_ref.Stats();
    if (source) {
      auto c = source->Counters();
      status.set_sensor_dropped(c.dropped);
      status.set_sensor_parse_errors(c.parse_errors);
    }
    status.set_spool_dropped(s.dropped_records);
    status.set_spool_discarded_bytes(s.discarded_bytes);
    status.set_sensor_kind(reported_sensor_kind());
    return status;
  };
  if (spool_stats.discarded_bytes) {
    v1::Event damaged;
    damaged.set_timestamp(NowNs());
    damaged.set_event_category("host");
    damaged.set_event_type("info");
    damaged.set_event_action("spool_damaged");
    damaged.set_event_dataset("vigil.agent");
    damaged.set_vigil_spool_discarded_bytes(static_cast<std::int64_t>(spool_stats.discarded_bytes));
    sink(std::move(damaged));
  }
  agent::Uplink uplink(uplink_options, spool_ref);
  uplink.Start();

  // Response: executors for the server's commands (command channel).
  agent::response::Responder responder(
      {.state_dir = state_dir,
       .host = host,
       .server = state->server,
       .lookup = [&](const std::string& entity_id) -> std::optional<agent::response::ProcessRef> {
         std::lock_guard lock(pipeline_mutex);
         auto found = enricher.FindEntity(entity_id);
         if (!found) return std::nullopt;
         return agent::response::ProcessRef{static_cast<pid_t>(found->first), found->second};
       },
       .hashes = &enricher.Hashes(),
       .emit = sink});
  responder.Start();
  // What `vigil-agent guard` policies refuse on this host becomes policy events (not in replay: its
  // events come from a file, not from this host).
  agent::guard::DenialListener guard_denials(sink);
  if (sensor != "replay")
    if (auto r = guard_denials.Start(); !r)
      VLOG_WARN("guard policy denials will not be reported: {}", r.error().message);
  {
    std::lock_guard lock(pipeline_mutex);
    responder_ptr = &responder;
  }
  // YARA scan jobs from the server: each runs on its own thread; the command is answered when the
  // job is accepted (docs/scan.md).
  agent::scan::ScanJobs scan_jobs({.state_dir = state_dir,
                                   .host = host,
                                   .emit = sink,
                                   .progress_interval = std::chrono::milliseconds(5000),
                                   .max_jobs = 4});
  // Commands come on a call the uplink runs on its connection and thread; results go back on it.
  agent::CommandChannel commands(
      {.journal = state_dir / "commands.journal",
       .agent_version = VIGIL_VERSION,
       .report = [&](const v1::CommandResult& r) { return uplink.Report(r); }});
  responder.Register(commands);
  auto outcome = [](Result<nlohmann::json> r) {
    return r ? agent::CommandOutcome{.ok = true, .error = {}, .result = std::move(*r)}
             : agent::CommandOutcome{.ok = false, .error = r.error().message, .result = nullptr};
  };
  if (auto n = scan_jobs.ResumeInterrupted()) VLOG_INFO("{} interrupted scan job(s) resumed", n);
  commands.Register("scan", [&](const nlohmann::json& p) { return outcome(scan_jobs.Start(p)); });
  commands.Register("scan_control",
                    [&](const nlohmann::json& p) { return outcome(scan_jobs.Control(p)); });
  if (auto r = commands.Start(); !r) return Die("command channel: " + r.error().message);
  if (source) {
    const bool grouped = source->SetBatchEnd(group_end);
    auto started = grouped ? source->Start(group_sink) : source->Start(sink);
    if (!started) return Die(sensor_kind + " sensor: " + started.error().message);
  }
  uplink.AttachCommands([&] { return commands.Request(); },
                        [&](v1::Command c) { commands.Deliver(std::move(c)); });
  VLOG_INFO("agent {} running: sensor {}, server {}", state->agent_id, sensor_kind, state->server);

  std::thread syncer([&] {
    pthread_setname_np(pthread_self(), "vigil-syncer");
    // Bound what a power loss can take from the spool; process crashes lose nothing anyway.
    bool replay_reported = false;
    // Losses become events too (category host), so they are searchable next to what they hid.
    agent::SourceCounters reported{};
    std::uint64_t reported_spool_dropped = spool_ref.Stats().dropped_records;
    auto next_health = std::chrono::steady_clock::now();
    while (!g_stop) {
      {
        std::unique_lock lock(sync_mutex);
        const bool was = uplink_syncs;
        // Connected: only the health check (every 10 s) and the end of a replay are due here.
        const bool short_wait = !was || (sensor_kind == "replay" && !replay_reported);
        sync_cv.wait_for(lock,
                         short_wait ? std::chrono::milliseconds(500) : std::chrono::seconds(10),
                         [&] { return g_stop || uplink_syncs != was; });
        if (!uplink_syncs) {
          lock.unlock();
          (void)spool_ref.Sync();
        }
      }
      if (source && std::chrono::steady_clock::now() >= next_health) {
        next_health = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        auto c = source->Counters();
        auto spool_dropped = spool_ref.Stats().dropped_records;
        if (c.dropped != reported.dropped || c.parse_errors != reported.parse_errors ||
            spool_dropped != reported_spool_dropped) {
          v1::Event health;
          health.set_timestamp(NowNs());
          health.set_event_category("host");
          health.set_event_type("info");
          health.set_event_action("sensor_health");
          health.set_event_dataset("vigil.agent");
          health.set_vigil_sensor_kind(sensor_kind);
          health.set_vigil_sensor_dropped(static_cast<std::int64_t>(c.dropped - reported.dropped));
          health.set_vigil_sensor_parse_errors(
              static_cast<std::int64_t>(c.parse_errors - reported.parse_errors));
          health.set_vigil_spool_dropped(
              static_cast<std::int64_t>(spool_dropped - reported_spool_dropped));
          VLOG_WARN("sensor health: {} events dropped, {} parse errors, {} dropped by the spool",
                    health.vigil_sensor_dropped(), health.vigil_sensor_parse_errors(),
                    health.vigil_spool_dropped());
          sink(std::move(health));
          reported = c;
          reported_spool_dropped = spool_dropped;
        }
      }
      if (source && sensor_kind == "replay" && !replay_reported && source->Done()) {
        auto c = source->Counters();
        VLOG_INFO("replay finished: {} events spooled, {} malformed lines", c.events,
                  c.parse_errors);
        replay_reported = true;
      }
    }
  });
  int signal = 0;
  for (;;) {
    siginfo_t info{};
    signal = sigwaitinfo(&stop_signals, &info);
    if (signal < 0) {
      if (errno == EINTR) continue;
      VLOG_ERROR("sigwaitinfo: {}", std::strerror(errno));
      break;
    }
    if (signal != SIGUSR1 && signal != SIGUSR2) break;
    const bool pause = signal == SIGUSR1;
    if (!source) {
      VLOG_WARN("signal {} from pid {}: no sensor to pause or resume", signal, info.si_pid);
      continue;
    }
    if (auto r = source->SetPaused(pause); !r) {
      VLOG_ERROR("signal {} from pid {}: {}", signal, info.si_pid, r.error().message);
      continue;
    }
    if (sensor_paused.exchange(pause) == pause) continue;
    VLOG_WARN("sensor {} (signal {} from pid {})", pause ? "paused" : "resumed", signal,
              info.si_pid);
    v1::Event change;
    change.set_timestamp(NowNs());
    change.set_event_category("host");
    change.set_event_type("change");
    change.set_event_action(pause ? "sensor_paused" : "sensor_resumed");
    change.set_event_dataset("vigil.agent");
    change.set_vigil_sensor_kind(sensor_kind);
    sink(std::move(change));
  }
  VLOG_INFO("stopping (signal {})", signal);
  {
    std::lock_guard lock(sync_mutex);
    g_stop = true;
  }
  sync_cv.notify_all();
  commands.Stop();
  if (source) source->Stop();
  {
    std::lock_guard lock(pipeline_mutex);
    responder_ptr = nullptr;
  }
  responder.Stop();
  uplink.Stop();
  syncer.join();
  (void)spool_ref.Sync();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that hangs up mid-write (an HTTPS client, a refused upload) is an error to handle, not a
  // reason to die: TLS writes go through write(2), which raises SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  // The one-shot scanner has its own option parser (see `vigil-agent scan --help`).
  if (argc > 1 && std::string_view(argv[1]) == "scan")
    return agent::scan::RunScanCommand(argc, argv);
  if (argc > 1 && std::string_view(argv[1]) == "guard")
    return agent::guard::RunGuardCommand(argc, argv);

  CLI::App app{"vigil-agent: Vigil's endpoint agent"};
  app.require_subcommand(1);
  std::string state_dir = "/var/lib/vigil-agent";

  auto* enroll = app.add_subcommand("enroll", "Enroll with a server using a single-use token");
  std::string server, token;
  enroll->add_option("--server", server, "Gateway address HOST:PORT")->required();
  enroll->add_option("--token", token, "Token from `vigil-server token create`")->required();
  enroll->add_option("--state-dir", state_dir, "Where the agent keeps its identity and spool")
      ->capture_default_str();

  auto* run = app.add_subcommand("run", "Run the agent until SIGINT/SIGTERM");
  RunOptions o;
  run->add_option("--state-dir", o.state_dir, "Where the agent keeps its identity and spool")
      ->capture_default_str();
  run->add_option("--sensor", o.sensor,
                  "Event source: auto (eBPF, else /proc), ebpf, proc, replay or none")
      ->capture_default_str();
  run->add_option("--replay", o.replay_file, "JSON Lines file of events for --sensor replay");
  run->add_option("--replay-rate", o.replay_rate,
                  "Replay at most this many events/s (0: as fast as possible)");
  run->add_option("--spool-max-mib", o.spool_max_mib, "Bound of the on-disk spool in MiB")
      ->capture_default_str();
  run->add_option("--batch-events", o.batch_events, "Events per batch sent to the server")
      ->capture_default_str();
  run->add_option("--window", o.window, "Batches in flight before waiting for acks")
      ->capture_default_str();
  run->add_option("--send-interval-ms", o.send_interval_ms,
                  "How often the uplink looks at the spool while events come: a partial batch "
                  "waits up to this long (fewer, larger batches: fewer wake-ups, more latency)")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  run->add_option("--syscall-hooks", o.syscall_hooks,
                  "How the eBPF sensor hooks file/accept/module syscalls (and DNS/UDP ones on "
                  "kernels before 6.3): tracepoint (only "
                  "those syscalls run a program; mounts tracefs when absent), raw (sys_exit: "
                  "every syscall runs one; sees syscalls this kernel lacks, e.g. "
                  "finit_module without module support), auto (tracepoint, else raw) or none (no "
                  "file, accept or module events)")
      ->capture_default_str();
  run->add_option("--fork-hold-ms", o.fork_hold_ms,
                  "How long the eBPF sensor waits for a forked child's exec, which then stands "
                  "for its fork (one event instead of two); a child that does anything else, "
                  "exits or does not exec by then gets its fork event. 0: every fork is an event "
                  "at once")
      ->capture_default_str()
      ->check(CLI::Range(0, 60000));
  run->add_flag("--simulate-no-ebpf", o.simulate_no_ebpf,
                "Behave as if the kernel had no eBPF (tests)");
  run->add_flag("--pause-signals", o.pause_signals,
                "Let root pause the eBPF sensor with SIGUSR1 (its programs are detached: nothing "
                "is seen meanwhile) and resume it with SIGUSR2; each is logged, stored as a host "
                "event and shown as the sensor kind \"ebpf (paused)\". For measuring what the "
                "sensor costs (bench/sensor/storm_slowdown.py --toggle); off by default");

  app.add_subcommand("scan",
                     "Scan files or process memory with YARA rules, locally, no server needed "
                     "(vigil-agent scan files|memory --help)");

  app.add_subcommand("guard",
                     "Run a command under a kernel-enforced process-protection policy "
                     "(vigil-agent guard exec|presets|check --help)");

  CLI11_PARSE(app, argc, argv);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (*enroll) return Enroll(state_dir, server, token);
  if (*run) return Run(o);
  return 0;
}
