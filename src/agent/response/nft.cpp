// nft through fork/exec with pipes (no shell): the script goes to stdin, stderr comes back as the
// error text.
#include "agent/response/nft.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "common/fd.hpp"

namespace vigil::agent::response {
namespace {

const char* NftPath() {
  for (const char* p : {"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"})
    if (::access(p, X_OK) == 0) return p;
  return "nft";
}

struct Output {
  int status = -1;
  std::string out, err;
};

Result<Output> Run(const std::vector<std::string>& args, const std::string& input) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
    return Fail(std::string("pipe: ") + std::strerror(errno));
  UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  std::vector<std::string> argv_s{NftPath()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return Fail(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::dup2(in_r.get(), 0);
    ::dup2(out_w.get(), 1);
    ::dup2(err_w.get(), 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  in_r.Reset();
  out_w.Reset();
  err_w.Reset();
  if (!input.empty()) (void)!::write(in_w.get(), input.data(), input.size());
  in_w.Reset();
  Output o;
  pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (::poll(fds, 2, 10000) <= 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? o.out : o.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  o.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  if (o.status == 127) return Fail("cannot run nft (is the nftables package installed?)");
  return o;
}

}  // namespace

Result<void> NftApply(const std::string& script) {
  auto r = Run({"-f", "-"}, script);
  if (!r) return std::unexpected(r.error());
  if (r->status != 0) {
    while (!r->err.empty() && r->err.back() == '\n') r->err.pop_back();
    return Fail("nft: " + r->err);
  }
  return {};
}

Result<std::string> Nft(const std::vector<std::string>& args) {
  auto r = Run(args, "");
  if (!r) return std::unexpected(r.error());
  if (r->status != 0) {
    while (!r->err.empty() && r->err.back() == '\n') r->err.pop_back();
    return Fail("nft: " + r->err);
  }
  return r->out;
}

bool NftTableExists(const std::string& table) {
  auto r = Run({"list", "table", "inet", table}, "");
  return r && r->status == 0;
}

bool IsIpv6(const std::string& address_or_cidr) {
  return address_or_cidr.find(':') != std::string::npos;
}

Result<std::vector<std::string>> ResolveHost(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0)
    return Fail("cannot resolve " + host + ": " + ::gai_strerror(rc));
  std::set<std::string> out;
  for (addrinfo* a = res; a; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET)
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, text,
                  sizeof text);
    else if (a->ai_family == AF_INET6)
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, text,
                  sizeof text);
    else
      continue;
    out.insert(text);
  }
  ::freeaddrinfo(res);
  return std::vector<std::string>(out.begin(), out.end());
}

std::vector<std::string> ReadResolvers(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    words >> key >> value;
    if (key != "nameserver" || value.empty()) continue;
    if (auto pct = value.find('%'); pct != std::string::npos) value.resize(pct);  // fe80::1%eth0
    unsigned char buf[16];
    if (::inet_pton(AF_INET, value.c_str(), buf) == 1 ||
        ::inet_pton(AF_INET6, value.c_str(), buf) == 1)
      out.push_back(value);
  }
  return out;
}

}  // namespace vigil::agent::response
