// FetchPinnedCa: the first, trust-on-pin step of enrollment. A plain OpenSSL TLS client connects to
// the server without verifying it, looks for the CA whose SHA-256 fingerprint the enrollment token
// pins in the chain the server presents (the gRPC server sends server.crt followed by ca.crt), and
// then verifies the server's leaf against that CA before handing the CA back to the caller.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "common/fd.hpp"
#include "common/pki/ossl.hpp"
#include "common/pki/pki.hpp"

namespace vigil::pki {
namespace {

using namespace detail;
using Clock = std::chrono::steady_clock;

constexpr auto kTimeout = std::chrono::seconds(5);

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string HostPort(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// Blocks SIGPIPE in this thread while the TLS connection is used (a peer that closes early must not
// kill the process) and discards a SIGPIPE raised meanwhile.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool was_pending_ = false;
};

struct AddrInfoFree {
  void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};

// Tries every address of host with a non-blocking connect, all within one deadline.
Result<UniqueFd> Connect(const std::string& host, int port, Clock::time_point deadline) {
  const std::string where = HostPort(host, port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* raw = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &raw);
  if (rc != 0) return Fail("cannot connect to " + where + ": " + gai_strerror(rc));
  std::unique_ptr<addrinfo, AddrInfoFree> list(raw);

  std::string last_error = "no address";
  for (addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) {
      last_error = std::strerror(errno);
      continue;
    }
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_error = std::strerror(errno);
        continue;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd pfd{fd.get(), POLLOUT, 0};
      int n = 0;
      do {
        n = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(left.count())) : 0;
      } while (n < 0 && errno == EINTR);
      if (n == 0) return Fail("cannot connect to " + where + ": timed out after 5 s");
      int err = 0;
      socklen_t len = sizeof err;
      if (n < 0) {
        err = errno;
      } else if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
      }
      if (err != 0) {
        last_error = std::strerror(err);
        continue;
      }
    }
    // Connected: back to blocking mode, with I/O timeouts bounding the TLS handshake.
    int flags = ::fcntl(fd.get(), F_GETFL);
    timeval tv{static_cast<time_t>(kTimeout.count()), 0};
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
      return Fail("cannot connect to " + where +
                  ": cannot configure the socket: " + std::strerror(errno));
    }
    return fd;
  }
  return Fail("cannot connect to " + where + ": " + last_error);
}

Result<std::string> NormalizeFingerprint(const std::string& fp) {
  std::string out;
  for (char c : fp) {
    if (c == ':') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  bool ok = out.size() == 64 && std::ranges::all_of(out, [](char c) {
              return std::isxdigit(static_cast<unsigned char>(c));
            });
  if (!ok) {
    return Fail("invalid CA fingerprint '" + fp + "': expected 64 hex digits (SHA-256)");
  }
  return out;
}

std::string HandshakeError(SSL* ssl, int rc, int saved_errno) {
  int err = SSL_get_error(ssl, rc);
  std::string ossl = OpenSslErrors();
  if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK) return "timed out after 5 s";
    if (saved_errno != 0) return std::strerror(saved_errno);
    if (ossl == "no OpenSSL error") return "the server closed the connection";
  }
  return ossl;
}

}  // namespace

Result<std::string> FetchPinnedCa(const std::string& host, int port,
                                  const std::string& ca_fingerprint) {
  auto fp = NormalizeFingerprint(ca_fingerprint);
  if (!fp) return std::unexpected(fp.error());
  const std::string where = HostPort(host, port);
  if (host.empty() || port <= 0 || port > 65535) {
    return Fail("cannot connect to " + where + ": invalid host or port");
  }
  SigpipeGuard no_sigpipe;
  ERR_clear_error();

  auto fd = Connect(host, port, Clock::now() + kTimeout);
  if (!fd) return std::unexpected(fd.error());

  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return Fail("cannot create a TLS context: " + OpenSslErrors());
  // Nothing is trusted yet: the chain is checked against the pin below.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SslPtr ssl(SSL_new(ctx.get()));
  if (!ssl) return Fail("cannot create a TLS connection: " + OpenSslErrors());
  static constexpr unsigned char kAlpn[] = {2, 'h', '2'};  // the peer is a gRPC (HTTP/2) server
  if (SSL_set_alpn_protos(ssl.get(), kAlpn, sizeof kAlpn) != 0 ||
      (!IsIpLiteral(host) && SSL_set_tlsext_host_name(ssl.get(), host.c_str()) != 1) ||
      SSL_set_fd(ssl.get(), fd->get()) != 1) {
    return Fail("cannot configure the TLS connection to " + where + ": " + OpenSslErrors());
  }
  errno = 0;
  int rc = SSL_connect(ssl.get());
  if (rc != 1) {
    int saved = errno;
    return Fail("TLS handshake with " + where + " failed: " + HandshakeError(ssl.get(), rc, saved));
  }

  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get());  // client side: includes the leaf
  X509* leaf = SSL_get0_peer_certificate(ssl.get());
  if (chain == nullptr || leaf == nullptr) {
    return Fail("the server at " + where + " presented no certificate");
  }
  X509* ca = nullptr;
  for (int i = 0; i < sk_X509_num(chain) && ca == nullptr; ++i) {
    X509* c = sk_X509_value(chain, i);
    auto got = Fingerprint(c);
    if (got && *got == *fp) ca = c;
  }
  if (ca == nullptr) {
    return Fail("the server's certificate chain does not contain the CA with fingerprint " + *fp +
                " (wrong server or token?); " + where + " presented " +
                std::to_string(sk_X509_num(chain)) +
                " certificate(s) - the server must send server.crt followed by ca.crt");
  }
  if (X509_check_ca(ca) < 1) {
    return Fail(
        "server certificate does not verify against the pinned CA: the certificate with "
        "fingerprint " +
        *fp + " is not a CA certificate");
  }
  if (auto r = VerifyAgainstCa(leaf, ca, chain, X509_PURPOSE_SSL_SERVER, host); !r) {
    return Fail("server certificate does not verify against the pinned CA: " + r.error().message);
  }
  auto pem = CertToPem(ca);
  SSL_shutdown(ssl.get());  // best effort close_notify
  ERR_clear_error();
  return pem;
}

}  // namespace vigil::pki
