// Tests for src/common/pki: CA and server certificate creation and reuse, SANs and reissue, CSR
// signing and refusal, fingerprints, atomic file writes, and FetchPinnedCa against a real local TLS
// server (OpenSSL, on 127.0.0.1) presenting different certificate chains.
#include "common/pki/pki.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace vigil::pki;

namespace {

template <auto F>
struct Free {
  template <class T>
  void operator()(T* p) const {
    F(p);
  }
};
using X509Ptr = std::unique_ptr<X509, Free<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Free<X509_REQ_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO_free_all>>;
using StorePtr = std::unique_ptr<X509_STORE, Free<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX_free>>;
using GenNamesPtr = std::unique_ptr<GENERAL_NAMES, Free<GENERAL_NAMES_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Free<BN_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, Free<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Free<SSL_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Free<X509_NAME_free>>;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "vigil-pki-test.XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

unsigned Mode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

std::string Read(const fs::path& p) {
  auto r = ReadFile(p);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return r.value_or("");
}

X509Ptr Cert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_TRUE(cert) << "not a certificate: " << pem;
  return cert;
}

X509Ptr CertFile(const fs::path& p) { return Cert(Read(p)); }

PkeyPtr Key(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_TRUE(key) << "not a key";
  return key;
}

std::string ToPem(X509_REQ* req) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// Empty string when `leaf` verifies against `ca` for `purpose`, else the verification error.
std::string VerifyError(X509* leaf, X509* ca, int purpose) {
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_add_cert(store.get(), ca);
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  if (X509_verify_cert(ctx.get()) == 1) return "";
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

struct Sans {
  std::set<std::string> dns;
  std::set<std::string> ips;  // textual
};

Sans GetSans(X509* cert) {
  Sans out;
  GenNamesPtr gens(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  EXPECT_TRUE(gens) << "no subjectAltName";
  if (!gens) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(gens.get()); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(gens.get(), i);
    if (g->type == GEN_DNS) {
      out.dns.emplace(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)),
                      static_cast<std::size_t>(ASN1_STRING_length(g->d.dNSName)));
    } else if (g->type == GEN_IPADD) {
      char buf[INET6_ADDRSTRLEN] = {};
      int len = ASN1_STRING_length(g->d.iPAddress);
      inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress), buf,
                sizeof buf);
      out.ips.emplace(buf);
    }
  }
  return out;
}

std::string Hostname() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string h = host;
  for (auto& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return h;
}

long ValidityDays(X509* cert) {
  int days = 0, secs = 0;
  EXPECT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)), 1);
  return days;
}

int SerialBits(X509* cert) {
  BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  return BN_num_bits(bn.get());
}

std::string Fp(const fs::path& p) {
  auto fp = CertFingerprint(Read(p));
  EXPECT_TRUE(fp.has_value()) << fp.error().message;
  return fp.value_or("");
}

ServerPki MustEnsure(const fs::path& dir, const std::vector<std::string>& extra = {}) {
  auto r = EnsureServerPki(dir, extra);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return r.value_or(ServerPki{});
}

// A TLS server on 127.0.0.1 serving one certificate chain (leaf first) until destroyed. It records
// the SNI and the ALPN protocols each client offered.
class TlsServer {
 public:
  TlsServer(const std::string& leaf_pem, const std::vector<std::string>& chain_pems,
            const std::string& key_pem) {
    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    leaf_ = Cert(leaf_pem);
    key_ = Key(key_pem);
    EXPECT_EQ(SSL_CTX_use_certificate(ctx_.get(), leaf_.get()), 1);
    for (const auto& pem : chain_pems) {
      X509Ptr c = Cert(pem);
      EXPECT_EQ(SSL_CTX_add1_chain_cert(ctx_.get(), c.get()), 1);
    }
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx_.get(), key_.get()), 1);
    SSL_CTX_set_alpn_select_cb(ctx_.get(), &TlsServer::SelectAlpn, this);

    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~TlsServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::vector<std::string> alpn_offers() {
    std::lock_guard lock(mu_);
    return alpn_;
  }
  std::vector<std::string> snis() {
    std::lock_guard lock(mu_);
    return sni_;
  }

 private:
  static int SelectAlpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                        const unsigned char* in, unsigned int inlen, void* arg) {
    auto* self = static_cast<TlsServer*>(arg);
    {
      std::lock_guard lock(self->mu_);
      self->alpn_.emplace_back(reinterpret_cast<const char*>(in), inlen);
      const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
      self->sni_.emplace_back(sni ? sni : "");
    }
    static constexpr unsigned char kH2[] = {2, 'h', '2'};
    unsigned char* sel = nullptr;
    if (SSL_select_next_proto(&sel, outlen, kH2, sizeof kH2, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
      return SSL_TLSEXT_ERR_NOACK;
    }
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
  }

  void Run() {
    // A client that hangs up early must not kill the test with SIGPIPE.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    while (!stop_) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      timeval tv{2, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      SslPtr ssl(SSL_new(ctx_.get()));
      SSL_set_fd(ssl.get(), c);
      if (SSL_accept(ssl.get()) == 1) {
        char buf[256];
        while (SSL_read(ssl.get(), buf, sizeof buf) > 0) {
        }
      }
      ERR_clear_error();
      ssl.reset();
      ::close(c);
    }
  }

  SslCtxPtr ctx_;
  X509Ptr leaf_;
  PkeyPtr key_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> alpn_;
  std::vector<std::string> sni_;
  std::thread thread_;
};

// A port on 127.0.0.1 with nothing listening.
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST(EnsureServerPki, CreatesCaAndServerFilesWithModes) {
  TempDir tmp;
  ServerPki p = MustEnsure(tmp.path());
  const fs::path dir = tmp.path() / "pki";
  EXPECT_EQ(p.ca_cert, dir / "ca.crt");
  EXPECT_EQ(p.ca_key, dir / "ca.key");
  EXPECT_EQ(p.server_cert, dir / "server.crt");
  EXPECT_EQ(p.server_key, dir / "server.key");
  EXPECT_EQ(Mode(dir), 0700u);
  EXPECT_EQ(Mode(p.ca_key), 0600u);
  EXPECT_EQ(Mode(p.server_key), 0600u);
  EXPECT_EQ(Mode(p.ca_cert), 0644u);
  EXPECT_EQ(Mode(p.server_cert), 0644u);

  // No temporary files left behind.
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"ca.crt", "ca.key", "server.crt", "server.key"}));

  for (const auto& key_path : {p.ca_key, p.server_key}) {
    std::string pem = Read(key_path);
    EXPECT_TRUE(pem.starts_with("-----BEGIN PRIVATE KEY-----")) << pem;  // PKCS#8
    PkeyPtr key = Key(pem);
    EXPECT_TRUE(EVP_PKEY_is_a(key.get(), "EC"));
    EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 256);
    char group[64] = {};
    EXPECT_EQ(EVP_PKEY_get_utf8_string_param(key.get(), "group", group, sizeof group, nullptr), 1);
    EXPECT_STREQ(group, "prime256v1");
  }

  X509Ptr ca = CertFile(p.ca_cert);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_check_issued(ca.get(), ca.get()), X509_V_OK);  // self-signed
  int bc_idx = X509_get_ext_by_NID(ca.get(), NID_basic_constraints, -1);
  ASSERT_GE(bc_idx, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(ca.get(), bc_idx)), 1);
  EXPECT_EQ(X509_get_key_usage(ca.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_GE(ValidityDays(ca.get()), 3650);
  EXPECT_LE(ValidityDays(ca.get()), 3651);
  EXPECT_GE(SerialBits(ca.get()), 121);
  EXPECT_LE(SerialBits(ca.get()), 128);
  auto cn = CertCommonName(Read(p.ca_cert));
  ASSERT_TRUE(cn.has_value()) << cn.error().message;
  EXPECT_TRUE(cn->starts_with("Vigil CA ")) << *cn;
  EXPECT_GT(cn->size(), std::string("Vigil CA ").size());

  // Two data dirs get two different CAs.
  TempDir other;
  MustEnsure(other.path());
  EXPECT_NE(Fp(p.ca_cert), Fp(other.path() / "pki" / "ca.crt"));
  EXPECT_NE(*cn, CertCommonName(Read(other.path() / "pki" / "ca.crt")).value_or(""));
}

TEST(EnsureServerPki, SecondCallReusesEverything) {
  TempDir tmp;
  ServerPki p = MustEnsure(tmp.path());
  const std::string ca_fp = Fp(p.ca_cert), server_fp = Fp(p.server_cert);
  const std::string ca_key = Read(p.ca_key), server_key = Read(p.server_key);
  ServerPki q = MustEnsure(tmp.path());
  EXPECT_EQ(q.ca_cert, p.ca_cert);
  EXPECT_EQ(Fp(q.ca_cert), ca_fp);
  EXPECT_EQ(Fp(q.server_cert), server_fp);
  EXPECT_EQ(Read(q.ca_key), ca_key);
  EXPECT_EQ(Read(q.server_key), server_key);
}

TEST(EnsureServerPki, TightensLooseKeyModes) {
  TempDir tmp;
  ServerPki p = MustEnsure(tmp.path());
  ASSERT_EQ(::chmod(p.ca_key.c_str(), 0644), 0);
  ASSERT_EQ(::chmod((tmp.path() / "pki").c_str(), 0755), 0);
  MustEnsure(tmp.path());
  EXPECT_EQ(Mode(p.ca_key), 0600u);
  EXPECT_EQ(Mode(tmp.path() / "pki"), 0700u);
}

TEST(EnsureServerPki, ServerCertVerifiesAgainstCaAndHasSans) {
  TempDir tmp;
  ServerPki p = MustEnsure(tmp.path());
  X509Ptr ca = CertFile(p.ca_cert);
  X509Ptr server = CertFile(p.server_cert);
  EXPECT_EQ(VerifyError(server.get(), ca.get(), X509_PURPOSE_SSL_SERVER), "");
  EXPECT_EQ(X509_check_private_key(server.get(), Key(Read(p.server_key)).get()), 1);
  EXPECT_EQ(X509_check_ca(server.get()), 0);
  EXPECT_TRUE(X509_get_extended_key_usage(server.get()) & XKU_SSL_SERVER);
  EXPECT_GE(ValidityDays(server.get()), 730);
  EXPECT_LE(ValidityDays(server.get()), 731);
  EXPECT_GE(SerialBits(server.get()), 121);

  Sans sans = GetSans(server.get());
  EXPECT_TRUE(sans.dns.contains("localhost"));
  EXPECT_TRUE(sans.dns.contains(Hostname())) << Hostname();
  EXPECT_TRUE(sans.ips.contains("127.0.0.1"));
  EXPECT_TRUE(sans.ips.contains("::1"));
  EXPECT_EQ(X509_check_host(server.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_host(server.get(), "evil.example", 0, 0, nullptr), 0);
}

TEST(EnsureServerPki, ExtraNameReissuesOnlyTheServerCert) {
  TempDir tmp;
  ServerPki p = MustEnsure(tmp.path());
  const std::string ca_fp = Fp(p.ca_cert), ca_key = Read(p.ca_key);
  const std::string server_fp = Fp(p.server_cert), server_key = Read(p.server_key);

  MustEnsure(tmp.path(), {"vigil.example.org", "10.1.2.3", "fd00::7"});
  EXPECT_EQ(Fp(p.ca_cert), ca_fp);
  EXPECT_EQ(Read(p.ca_key), ca_key);
  EXPECT_EQ(Read(p.server_key), server_key);
  const std::string reissued_fp = Fp(p.server_cert);
  EXPECT_NE(reissued_fp, server_fp);
  X509Ptr server = CertFile(p.server_cert);
  EXPECT_EQ(VerifyError(server.get(), CertFile(p.ca_cert).get(), X509_PURPOSE_SSL_SERVER), "");
  Sans sans = GetSans(server.get());
  EXPECT_TRUE(sans.dns.contains("vigil.example.org"));
  EXPECT_TRUE(sans.ips.contains("10.1.2.3"));
  EXPECT_TRUE(sans.ips.contains("fd00::7"));
  EXPECT_TRUE(sans.dns.contains("localhost"));
  EXPECT_TRUE(sans.ips.contains("127.0.0.1"));
  EXPECT_FALSE(sans.dns.contains("10.1.2.3"));  // IPs are IP SANs, not DNS names

  // Same or fewer names (any case): no reissue.
  MustEnsure(tmp.path(), {"VIGIL.example.org", "10.1.2.3", "fd00::7"});
  EXPECT_EQ(Fp(p.server_cert), reissued_fp);
  MustEnsure(tmp.path(), {"10.1.2.3"});
  EXPECT_EQ(Fp(p.server_cert), reissued_fp);
  MustEnsure(tmp.path());
  EXPECT_EQ(Fp(p.server_cert), reissued_fp);
}

TEST(EnsureServerPki, RejectsInvalidExtraName) {
  TempDir tmp;
  auto r = EnsureServerPki(tmp.path(), {"bad name,DNS:evil.example"});
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(Contains(r.error().message, "invalid server name")) << r.error().message;
}

TEST(EnsureServerPki, RefusesHalfACa) {
  TempDir tmp;
  ServerPki p = MustEnsure(tmp.path());
  fs::remove(p.ca_key);
  auto r = EnsureServerPki(tmp.path());
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(Contains(r.error().message, "ca.key is missing")) << r.error().message;
}

TEST(SignClientCsr, IssuesClientCertWithIdentityAsCn) {
  TempDir tmp;
  ServerPki p = MustEnsure(tmp.path());
  auto kc = MakeKeyAndCsr();
  ASSERT_TRUE(kc.has_value()) << kc.error().message;
  EXPECT_TRUE(kc->key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
  EXPECT_TRUE(kc->csr_pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
  {
    BioPtr bio(BIO_new_mem_buf(kc->csr_pem.data(), static_cast<int>(kc->csr_pem.size())));
    ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    ASSERT_TRUE(req);
    EXPECT_EQ(X509_REQ_verify(req.get(), X509_REQ_get0_pubkey(req.get())), 1);
    EXPECT_EQ(EVP_PKEY_get_bits(X509_REQ_get0_pubkey(req.get())), 256);
  }

  const auto before = std::chrono::system_clock::now();
  auto pem = SignClientCsr(p, kc->csr_pem, "agent-7f3a9c", 365);
  ASSERT_TRUE(pem.has_value()) << pem.error().message;
  EXPECT_EQ(CertCommonName(*pem).value_or(""), "agent-7f3a9c");

  X509Ptr cert = Cert(*pem);
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(cert.get())), 1);  // CSR subject ignored
  EXPECT_EQ(X509_check_private_key(cert.get(), Key(kc->key_pem).get()), 1);
  EXPECT_EQ(VerifyError(cert.get(), CertFile(p.ca_cert).get(), X509_PURPOSE_SSL_CLIENT), "");
  EXPECT_NE(VerifyError(cert.get(), CertFile(p.ca_cert).get(), X509_PURPOSE_SSL_SERVER), "");
  uint32_t eku = X509_get_extended_key_usage(cert.get());
  EXPECT_TRUE(eku & XKU_SSL_CLIENT);
  EXPECT_FALSE(eku & XKU_SSL_SERVER);
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_GE(SerialBits(cert.get()), 121);
  EXPECT_GE(ValidityDays(cert.get()), 365);
  EXPECT_LE(ValidityDays(cert.get()), 366);

  // notBefore is backdated by about five minutes.
  time_t t = std::chrono::system_clock::to_time_t(before - std::chrono::minutes(4));
  EXPECT_LT(X509_cmp_time(X509_get0_notBefore(cert.get()), &t), 0);
  t = std::chrono::system_clock::to_time_t(before - std::chrono::minutes(6));
  EXPECT_GT(X509_cmp_time(X509_get0_notBefore(cert.get()), &t), 0);

  // Another signing of the same CSR gets another serial.
  auto again = SignClientCsr(p, kc->csr_pem, "agent-7f3a9c", 365);
  ASSERT_TRUE(again.has_value());
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(cert.get()),
                             X509_get0_serialNumber(Cert(*again).get())),
            0);
}

TEST(SignClientCsr, RefusesTamperedCsr) {
  TempDir tmp;
  ServerPki p = MustEnsure(tmp.path());
  auto kc = MakeKeyAndCsr();
  ASSERT_TRUE(kc.has_value());

  // Change the subject without re-signing: the self-signature no longer verifies.
  BioPtr bio(BIO_new_mem_buf(kc->csr_pem.data(), static_cast<int>(kc->csr_pem.size())));
  ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(req);
  NamePtr name(X509_NAME_new());
  X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("someone-else"), -1, -1, 0);
  ASSERT_EQ(X509_REQ_set_subject_name(req.get(), name.get()), 1);
  const std::string tampered = ToPem(req.get());
  ASSERT_NE(tampered, kc->csr_pem);

  auto r = SignClientCsr(p, tampered, "agent-1", 30);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(Contains(r.error().message, "refusing the CSR")) << r.error().message;
  EXPECT_TRUE(Contains(r.error().message, "signature does not verify")) << r.error().message;

  r = SignClientCsr(p, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", "agent-1", 30);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(Contains(r.error().message, "refusing the CSR")) << r.error().message;
}

TEST(SignClientCsr, RejectsBadIdentityAndLifetime) {
  TempDir tmp;
  ServerPki p = MustEnsure(tmp.path());
  auto kc = MakeKeyAndCsr();
  ASSERT_TRUE(kc.has_value());
  for (const std::string& id :
       std::vector<std::string>{"", "a/b", "x,CN=admin", std::string(65, 'a')}) {
    auto r = SignClientCsr(p, kc->csr_pem, id, 30);
    ASSERT_FALSE(r.has_value()) << id;
    EXPECT_TRUE(Contains(r.error().message, "invalid certificate identity")) << r.error().message;
  }
  auto r = SignClientCsr(p, kc->csr_pem, "agent-1", 0);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(Contains(r.error().message, "lifetime")) << r.error().message;
}

TEST(CertFingerprint, IsStableLowerHexSha256OfDer) {
  TempDir tmp;
  ServerPki p = MustEnsure(tmp.path());
  const std::string pem = Read(p.ca_cert);
  auto fp = CertFingerprint(pem);
  ASSERT_TRUE(fp.has_value()) << fp.error().message;
  EXPECT_EQ(fp->size(), 64u);
  EXPECT_EQ(fp->find_first_not_of("0123456789abcdef"), std::string::npos) << *fp;
  EXPECT_EQ(CertFingerprint(pem).value_or(""), *fp);

  // Independent computation over the DER bytes.
  X509Ptr cert = Cert(pem);
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  ASSERT_GT(len, 0);
  unsigned char md[32];
  unsigned int mdlen = 0;
  ASSERT_EQ(EVP_Digest(der, static_cast<std::size_t>(len), md, &mdlen, EVP_sha256(), nullptr), 1);
  OPENSSL_free(der);
  char hex[65] = {};
  for (unsigned i = 0; i < mdlen; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
  EXPECT_EQ(*fp, hex);

  EXPECT_NE(CertFingerprint(Read(p.server_cert)).value_or(""), *fp);
  auto bad = CertFingerprint("not a certificate");
  ASSERT_FALSE(bad.has_value());
  EXPECT_TRUE(Contains(bad.error().message, "not a PEM certificate")) << bad.error().message;
}

TEST(PkiFiles, WriteFileAtomicSetsModeAndReplaces) {
  TempDir tmp;
  const fs::path f = tmp.path() / "secret";
  ASSERT_TRUE(WriteFileAtomic(f, "one", 0600).has_value());
  EXPECT_EQ(Mode(f), 0600u);
  EXPECT_EQ(Read(f), "one");
  ASSERT_TRUE(WriteFileAtomic(f, std::string("two\0three", 9), 0640).has_value());
  EXPECT_EQ(Mode(f), 0640u);
  EXPECT_EQ(Read(f), std::string("two\0three", 9));
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);

  auto missing = ReadFile(tmp.path() / "nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_TRUE(Contains(missing.error().message, (tmp.path() / "nope").string()));
  EXPECT_TRUE(Contains(missing.error().message, "No such file"));
  auto bad_dir = WriteFileAtomic(tmp.path() / "no-dir" / "f", "x", 0600);
  ASSERT_FALSE(bad_dir.has_value());
  EXPECT_TRUE(Contains(bad_dir.error().message, "no-dir")) << bad_dir.error().message;
}

class FetchPinnedCaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    p_ = MustEnsure(a_.path());
    q_ = MustEnsure(b_.path());
    ca_pem_ = Read(p_.ca_cert);
    ca_fp_ = Fp(p_.ca_cert);
  }
  TempDir a_, b_;
  ServerPki p_, q_;  // two independent CAs
  std::string ca_pem_, ca_fp_;
};

TEST_F(FetchPinnedCaTest, CorrectPinReturnsTheCa) {
  TlsServer server(Read(p_.server_cert), {ca_pem_}, Read(p_.server_key));
  auto r = FetchPinnedCa("127.0.0.1", server.port(), ca_fp_);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, ca_pem_);
  EXPECT_EQ(CertFingerprint(*r).value_or(""), ca_fp_);

  // Upper case and colon-separated pins are accepted; "localhost" sends SNI.
  std::string upper;
  for (std::size_t i = 0; i < ca_fp_.size(); i += 2) {
    if (i) upper += ':';
    upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ca_fp_[i])));
    upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ca_fp_[i + 1])));
  }
  r = FetchPinnedCa("localhost", server.port(), upper);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, ca_pem_);

  auto alpn = server.alpn_offers();
  auto sni = server.snis();
  ASSERT_EQ(alpn.size(), 2u);
  EXPECT_EQ(alpn[0], std::string("\x02h2", 3));
  EXPECT_EQ(sni[0], "");  // no SNI for an IP literal
  EXPECT_EQ(sni[1], "localhost");
}

TEST_F(FetchPinnedCaTest, WrongPinIsRefused) {
  TlsServer server(Read(p_.server_cert), {ca_pem_}, Read(p_.server_key));
  const std::string other_fp = Fp(q_.ca_cert);
  auto r = FetchPinnedCa("127.0.0.1", server.port(), other_fp);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(Contains(r.error().message,
                       "the server's certificate chain does not contain the CA with fingerprint " +
                           other_fp + " (wrong server or token?)"))
      << r.error().message;
}

TEST_F(FetchPinnedCaTest, ServerWithoutCaInChainIsRefused) {
  TlsServer server(Read(p_.server_cert), {}, Read(p_.server_key));
  auto r = FetchPinnedCa("127.0.0.1", server.port(), ca_fp_);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(Contains(r.error().message, "does not contain the CA with fingerprint " + ca_fp_))
      << r.error().message;
}

TEST_F(FetchPinnedCaTest, ServerFromAnotherCaIsRefused) {
  {
    // Another server entirely: its chain has its own CA, not the pinned one.
    TlsServer server(Read(q_.server_cert), {Read(q_.ca_cert)}, Read(q_.server_key));
    auto r = FetchPinnedCa("127.0.0.1", server.port(), ca_fp_);
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(Contains(r.error().message, "does not contain the CA with fingerprint " + ca_fp_))
        << r.error().message;
  }
  {
    // An impostor that copies the pinned CA into its chain but has a leaf from another CA.
    TlsServer server(Read(q_.server_cert), {ca_pem_}, Read(q_.server_key));
    auto r = FetchPinnedCa("127.0.0.1", server.port(), ca_fp_);
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(
        Contains(r.error().message, "server certificate does not verify against the pinned CA: "))
        << r.error().message;
  }
  {
    // Pinning the leaf's fingerprint instead of the CA's is refused too.
    TlsServer server(Read(p_.server_cert), {ca_pem_}, Read(p_.server_key));
    auto r = FetchPinnedCa("127.0.0.1", server.port(), Fp(p_.server_cert));
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(
        Contains(r.error().message, "server certificate does not verify against the pinned CA: "))
        << r.error().message;
  }
}

TEST_F(FetchPinnedCaTest, ConnectionRefusedFailsQuickly) {
  const int port = ClosedPort();
  const auto start = std::chrono::steady_clock::now();
  auto r = FetchPinnedCa("127.0.0.1", port, ca_fp_);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(Contains(r.error().message, "cannot connect to 127.0.0.1:" + std::to_string(port) +
                                              ": Connection refused"))
      << r.error().message;
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST_F(FetchPinnedCaTest, SilentServerTimesOut) {
  // Listening (the kernel completes the TCP handshake) but never speaking TLS.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const auto start = std::chrono::steady_clock::now();
  auto r = FetchPinnedCa("127.0.0.1", ntohs(addr.sin_port), ca_fp_);
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(Contains(r.error().message, "timed out")) << r.error().message;
  EXPECT_LT(took, std::chrono::seconds(8));
}

TEST_F(FetchPinnedCaTest, RejectsMalformedPin) {
  auto r = FetchPinnedCa("127.0.0.1", 1, "abc");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(Contains(r.error().message, "invalid CA fingerprint")) << r.error().message;
}
