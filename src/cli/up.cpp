#include "cli/up.hpp"

#include <memory>

#include "cli/command.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/api_client.hpp"
#include "common/fd.hpp"
#include "common/pki/pki.hpp"

namespace vigil::cli {
namespace fs = std::filesystem;
namespace {

fs::path BinDir() { return fs::read_symlink("/proc/self/exe").parent_path(); }

// A port already in use is a clear error up front, not a hang or a confusing failure later.
Result<void> CheckPortFree(int port, const char* what, const char* flag) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Fail(std::string(what) + " port " + std::to_string(port) + " is not available (" +
                std::strerror(errno) + "); stop whatever uses it or choose another with " + flag);
  return {};
}

pid_t Spawn(const std::vector<std::string>& argv) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(args[0], args.data());
    std::cerr << "vigil up: cannot run " << argv[0] << ": " << std::strerror(errno) << std::endl;
    _exit(127);
  }
  return pid;
}

// Runs a command to completion and returns its stdout; fails with its exit status.
Result<std::string> Capture(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Fail(std::strerror(errno));
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
  ::close(pipe_fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Fail(fs::path(argv[0]).filename().string() + " failed (status " +
                std::to_string(status) + ")");
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// A password of 20 letters and digits from /dev/urandom (about 119 bits).
Result<std::string> RandomPassword() {
  static constexpr std::string_view kAlphabet =
      "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  UniqueFd fd(::open("/dev/urandom", O_RDONLY | O_CLOEXEC));
  unsigned char bytes[64];
  if (!fd || ::read(fd.get(), bytes, sizeof bytes) != static_cast<ssize_t>(sizeof bytes))
    return Fail("cannot read /dev/urandom");
  std::string out;
  for (unsigned char b : bytes) {
    if (b >= 256 - 256 % kAlphabet.size()) continue;  // no modulo bias
    out += kAlphabet[b % kAlphabet.size()];
    if (out.size() == 20) return out;
  }
  return Fail("not enough random bytes");
}

// The console's first admin, created once (when the server has no users yet). The password is
// printed this one time only; afterwards `vigil user passwd admin` sets a new one.
Result<std::optional<std::string>> EnsureFirstAdmin(const Connection& c) {
  auto users = Request(c, "GET", "/api/users");
  if (!users) return std::unexpected(users.error());
  if (users->status != 200) return Fail("listing console users: " + ErrorText(*users));
  if (!nlohmann::json::parse(users->body).empty()) return std::optional<std::string>();
  auto password = RandomPassword();
  if (!password) return std::unexpected(password.error());
  auto added =
      Request(c, "POST", "/api/users",
              nlohmann::json{{"name", "admin"}, {"password", *password}, {"role", "admin"}}.dump(),
              "application/json");
  if (!added) return std::unexpected(added.error());
  if (added->status != 200) return Fail("creating the console's admin: " + ErrorText(*added));
  return std::optional<std::string>(*password);
}

}  // namespace

int Up(const UpOptions& o) {
  const fs::path data = o.data_dir;
  const fs::path bin = BinDir();
  const std::string server_bin = (bin / "vigil-server").string();
  const std::string agent_bin = (bin / "vigil-agent").string();
  for (const auto& b : {server_bin, agent_bin})
    if (!fs::exists(b)) return std::cerr << "vigil up: " << b << " not found next to vigil\n", 1;
  if (auto r = CheckPortFree(o.api_port, "API", "--api-port"); !r)
    return std::cerr << "vigil up: " << r.error().message << "\n", 1;
  if (auto r = CheckPortFree(o.agent_port, "agent", "--agent-port"); !r)
    return std::cerr << "vigil up: " << r.error().message << "\n", 1;

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGCHLD);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);

  const std::string agent_addr = "127.0.0.1:" + std::to_string(o.agent_port);
  pid_t server =
      Spawn({server_bin, "run", "--data-dir", data.string(), "--agent-listen",
             "0.0.0.0:" + std::to_string(o.agent_port), "--api-listen",
             "127.0.0.1:" + std::to_string(o.api_port), "--store-layout", o.store_layout});
  std::vector<pid_t> children{server};
  auto stop_all = [&](int code) {
    for (pid_t p : children) ::kill(p, SIGTERM);
    for (pid_t p : children) ::waitpid(p, nullptr, 0);
    return code;
  };

  // Wait until the API answers (the server wrote api.url and listens).
  Connection connection;
  bool healthy = false;
  for (int i = 0; i < 150 && !healthy; ++i) {
    int status = 0;
    if (::waitpid(server, &status, WNOHANG) == server) {
      std::cerr << "vigil up: vigil-server exited (status " << status
                << "); see its message above\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto c = ResolveConnection("", "", data.string());
    if (!c) continue;
    auto reply = Request(*c, "GET", "/api/health");
    if (reply && reply->status == 200) connection = *c, healthy = true;
  }
  if (!healthy) {
    std::cerr << "vigil up: the server did not become healthy within 15 s\n";
    return stop_all(1);
  }

  const fs::path agent_dir = data / "agent";
  if (!fs::exists(agent_dir / "agent.json")) {
    auto token =
        Capture({server_bin, "token", "create", "--ttl", "10m", "--data-dir", data.string()});
    if (!token) return std::cerr << "vigil up: " << token.error().message << "\n", stop_all(1);
    auto enrolled = Capture({agent_bin, "enroll", "--server", agent_addr, "--token", *token,
                             "--state-dir", agent_dir.string()});
    if (!enrolled) return std::cerr << "vigil up: local agent enrollment failed\n", stop_all(1);
  }
  auto first_admin = EnsureFirstAdmin(connection);
  if (!first_admin)
    return std::cerr << "vigil up: " << first_admin.error().message << "\n", stop_all(1);
  pid_t agent = Spawn({agent_bin, "run", "--state-dir", agent_dir.string(), "--sensor", o.sensor});
  children.push_back(agent);

  std::cout << "\nVigil is up.\n"
            << "  console:      " << connection.url << "/  (log in as a console user)\n"
            << "  API:          " << connection.url << "  (CA: " << (data / "pki/ca.crt").string()
            << ")\n"
            << "  admin token:  " << (data / "admin.token").string() << "\n"
            << "  agents:       " << agent_addr
            << "  (enroll more: vigil-server token create --data-dir " << data.string() << ")\n"
            << "  data:         " << data.string() << "\n\n";
  // Other shells find this server by the default data dir only.
  const std::string vigil =
      data == fs::path("/var/lib/vigil") ? "vigil" : "vigil --data-dir " + data.string();
  if (*first_admin)
    std::cout << "First console user (shown this once; change it with `" << vigil
              << " user passwd admin`):\n"
              << "  user:         admin\n"
              << "  password:     " << **first_admin << "\n\n";
  std::cout << "Try, in another shell:  " << vigil << " hosts;  " << vigil
            << " events --category process --since 1m\n"
            << "Stop with Ctrl-C.\n"
            << std::endl;

  for (;;) {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    if (signal != SIGCHLD) {
      std::cout << "vigil up: stopping" << std::endl;
      return stop_all(0);
    }
    for (pid_t p : children) {
      int status = 0;
      if (::waitpid(p, &status, WNOHANG) == p) {
        std::cerr << "vigil up: " << (p == server ? "vigil-server" : "vigil-agent")
                  << " exited unexpectedly (status " << status << "); stopping\n";
        std::erase(children, p);
        return stop_all(1);
      }
    }
  }
}

void RegisterUpCommand(CLI::App& app, CliContext& ctx) {
  auto o = std::make_shared<UpOptions>();
  auto* up = app.add_subcommand("up", "Run server + local agent on this machine (foreground)");
  up->add_option("--data-dir", ctx.data_dir, "Data directory (env VIGIL_DATA_DIR)")
      ->capture_default_str();
  up->add_option("--api-port", o->api_port, "HTTPS API port")->capture_default_str();
  up->add_option("--agent-port", o->agent_port, "Agent gateway port")->capture_default_str();
  up->add_option("--sensor", o->sensor, "Local agent's sensor: auto (eBPF, else /proc), ebpf, proc")
      ->capture_default_str();
  up->add_option("--store-layout", o->store_layout,
                 "How a new data dir's store keeps events: blocks (compressed column blocks) or "
                 "rows; see vigil-server run --help. An existing store keeps its layout")
      ->check(CLI::IsMember({"rows", "blocks"}))
      ->capture_default_str();
  up->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      o->data_dir = ctx.data_dir;
      return Up(*o);
    };
  });
}

}  // namespace vigil::cli
