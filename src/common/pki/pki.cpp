// Vigil's PKI with OpenSSL 3: the server's CA (EC P-256, self-signed, 10 years), the server's TLS
// certificate (signed by the CA, SANs for every name agents use), agents' keys and CSRs, signing a
// CSR as a client certificate whose CN is the agent id, fingerprints and common names.
#include "common/pki/pki.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <system_error>

#include "common/pki/ossl.hpp"
#include "common/sha256.hpp"

namespace vigil::pki {
namespace detail {

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error" : out;
}

namespace {
Result<BioPtr> MemBio(std::string_view pem) {
  if (pem.size() > INT_MAX) return Fail("PEM input too large");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Fail("cannot allocate a memory BIO: " + OpenSslErrors());
  return bio;
}

template <class T, class WriteFn>
Result<std::string> ToPem(T* obj, WriteFn write, const char* what) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return Fail("cannot allocate a memory BIO: " + OpenSslErrors());
  if (write(bio.get(), obj) != 1) {
    return Fail(std::string("cannot PEM-encode the ") + what + ": " + OpenSslErrors());
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}
}  // namespace

Result<X509Ptr> ParseCert(std::string_view pem) {
  auto bio = MemBio(pem);
  if (!bio) return std::unexpected(bio.error());
  X509Ptr cert(PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr));
  if (!cert) return Fail("not a PEM certificate: " + OpenSslErrors());
  return cert;
}

Result<PkeyPtr> ParsePrivateKey(std::string_view pem) {
  auto bio = MemBio(pem);
  if (!bio) return std::unexpected(bio.error());
  PkeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, nullptr));
  if (!key) return Fail("not a PEM private key: " + OpenSslErrors());
  return key;
}

Result<ReqPtr> ParseCsr(std::string_view pem) {
  auto bio = MemBio(pem);
  if (!bio) return std::unexpected(bio.error());
  ReqPtr req(PEM_read_bio_X509_REQ(bio->get(), nullptr, nullptr, nullptr));
  if (!req) return Fail("not a PEM certificate signing request: " + OpenSslErrors());
  return req;
}

Result<std::string> CertToPem(X509* cert) {
  return ToPem(
      cert, [](BIO* b, X509* c) { return PEM_write_bio_X509(b, c); }, "certificate");
}

Result<std::string> KeyToPem(EVP_PKEY* key) {
  return ToPem(
      key,
      [](BIO* b, EVP_PKEY* k) {
        return PEM_write_bio_PKCS8PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
      },
      "private key");
}

Result<std::string> CsrToPem(X509_REQ* req) {
  return ToPem(
      req, [](BIO* b, X509_REQ* r) { return PEM_write_bio_X509_REQ(b, r); }, "CSR");
}

Result<std::string> Fingerprint(X509* cert) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md.data(), &len) != 1) {
    return Fail("cannot compute the certificate's SHA-256: " + OpenSslErrors());
  }
  return ToHex(md.data(), len);
}

Result<void> VerifyAgainstCa(X509* leaf, X509* ca, STACK_OF(X509) * untrusted, int purpose,
                             const std::string& host) {
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx) return Fail("cannot allocate an X509 store: " + OpenSslErrors());
  if (X509_STORE_add_cert(store.get(), ca) != 1) {
    return Fail("cannot add the CA to the X509 store: " + OpenSslErrors());
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted) != 1) {
    return Fail("cannot initialise certificate verification: " + OpenSslErrors());
  }
  if (X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1) {
    return Fail("cannot set the verification purpose: " + OpenSslErrors());
  }
  if (!host.empty()) {
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    unsigned char ip[16];
    bool is_ip =
        inet_pton(AF_INET, host.c_str(), ip) == 1 || inet_pton(AF_INET6, host.c_str(), ip) == 1;
    int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                   : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    if (ok != 1) return Fail("cannot set the expected host name " + host + ": " + OpenSslErrors());
  }
  int rc = X509_verify_cert(ctx.get());
  if (rc != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    std::string msg = X509_verify_cert_error_string(err);
    if (err == X509_V_ERR_HOSTNAME_MISMATCH || err == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      msg += " (the certificate has no subject alternative name for " + host + ")";
    }
    return Fail(msg);
  }
  return {};
}

}  // namespace detail

namespace {

using namespace detail;

void FreeOpenSslString(unsigned char* p) { OPENSSL_free(p); }

constexpr int kCaDays = 3650;
constexpr int kServerDays = 730;
constexpr long kBackdateSeconds = 5 * 60;               // tolerate clock skew between hosts
constexpr long kServerRenewBeforeSeconds = 30 * 86400;  // reissue the server cert when closer

// One subject alternative name: an IP address (raw bytes) or a DNS name (lower case).
struct SanName {
  bool is_ip = false;
  std::string value;  // DNS name, or 4/16 raw address bytes
  std::string text;   // as given, for messages
};

Result<SanName> ParseSanName(std::string name) {
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, name.c_str(), buf) == 1) {
    return SanName{true, std::string(reinterpret_cast<char*>(buf), 4), name};
  }
  if (inet_pton(AF_INET6, name.c_str(), buf) == 1) {
    return SanName{true, std::string(reinterpret_cast<char*>(buf), 16), name};
  }
  bool ok = !name.empty() && name.size() <= 253 && name.front() != '.' && name.front() != '-';
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
                c == '*');
  }
  if (!ok) {
    return Fail("invalid server name '" + name +
                "': expected an IPv4/IPv6 address or a DNS name (letters, digits, '.', '-')");
  }
  std::string lower = name;
  std::ranges::transform(lower, lower.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return SanName{false, lower, name};
}

Result<std::vector<SanName>> ServerNames(const std::vector<std::string>& extra) {
  std::vector<std::string> all = {"localhost", "127.0.0.1", "::1"};
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') all.emplace_back(host);
  all.insert(all.end(), extra.begin(), extra.end());
  std::vector<SanName> out;
  for (const auto& n : all) {
    auto parsed = ParseSanName(n);
    if (!parsed) return std::unexpected(parsed.error());
    bool dup = std::ranges::any_of(out, [&](const SanName& s) {
      return s.is_ip == parsed->is_ip && s.value == parsed->value;
    });
    if (!dup) out.push_back(std::move(*parsed));
  }
  return out;
}

Result<PkeyPtr> NewP256Key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return Fail("cannot generate an EC P-256 key: " + OpenSslErrors());
  return key;
}

Result<std::string> RandomHex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
    return Fail("cannot get random bytes: " + OpenSslErrors());
  }
  return ToHex(buf.data(), buf.size());
}

Result<void> SetRandomSerial(X509* cert) {
  std::array<unsigned char, 16> bytes{};  // 128 bits; a positive DER INTEGER of at most 17 octets
  do {
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
      return Fail("cannot get random bytes for a serial number: " + OpenSslErrors());
    }
  } while (bytes[0] == 0);  // keep it a full 128 bits and never zero
  BnPtr bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) {
    return Fail("cannot set the serial number: " + OpenSslErrors());
  }
  return {};
}

Result<NamePtr> CnName(const std::string& cn) {
  NamePtr name(X509_NAME_new());
  if (!name || X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                                          reinterpret_cast<const unsigned char*>(cn.data()),
                                          static_cast<int>(cn.size()), -1, 0) != 1) {
    return Fail("cannot build the subject name CN=" + cn + ": " + OpenSslErrors());
  }
  return name;
}

// A new X509v3 certificate with a random serial, subject, issuer, key and validity; the caller adds
// extensions and signs it.
Result<X509Ptr> NewCert(X509_NAME* subject, X509_NAME* issuer, EVP_PKEY* pubkey, long days) {
  X509Ptr cert(X509_new());
  if (!cert) return Fail("cannot allocate a certificate: " + OpenSslErrors());
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_subject_name(cert.get(), subject) != 1 ||
      X509_set_issuer_name(cert.get(), issuer) != 1 || X509_set_pubkey(cert.get(), pubkey) != 1 ||
      !X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(days), 0, nullptr)) {
    return Fail("cannot fill in the certificate: " + OpenSslErrors());
  }
  if (auto r = SetRandomSerial(cert.get()); !r) return std::unexpected(r.error());
  return cert;
}

// Adds an extension given in openssl.cnf syntax (e.g. "critical,CA:TRUE").
Result<void> AddExt(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return Fail(std::string("cannot add the ") + OBJ_nid2sn(nid) + " extension '" + value +
                "': " + OpenSslErrors());
  }
  return {};
}

Result<void> AddExts(X509* cert, X509* issuer,
                     std::initializer_list<std::pair<int, const char*>> exts) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : exts) {
    if (auto r = AddExt(cert, &ctx, nid, value); !r) return r;
  }
  return {};
}

Result<void> Sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) <= 0) {
    return Fail("cannot sign the certificate: " + OpenSslErrors());
  }
  return {};
}

Result<void> AddSans(X509* cert, const std::vector<SanName>& names) {
  GenNamesPtr gens(GENERAL_NAMES_new());
  if (!gens) return Fail("cannot allocate subject alternative names: " + OpenSslErrors());
  for (const auto& n : names) {
    GenNamePtr gen(GENERAL_NAME_new());
    if (!gen) return Fail("cannot allocate a subject alternative name: " + OpenSslErrors());
    if (n.is_ip) {
      OctetPtr ip(ASN1_OCTET_STRING_new());
      if (!ip ||
          ASN1_OCTET_STRING_set(ip.get(), reinterpret_cast<const unsigned char*>(n.value.data()),
                                static_cast<int>(n.value.size())) != 1) {
        return Fail("cannot encode IP " + n.text + ": " + OpenSslErrors());
      }
      GENERAL_NAME_set0_value(gen.get(), GEN_IPADD, ip.release());
    } else {
      Ia5Ptr dns(ASN1_IA5STRING_new());
      if (!dns ||
          ASN1_STRING_set(dns.get(), n.value.data(), static_cast<int>(n.value.size())) != 1) {
        return Fail("cannot encode DNS name " + n.text + ": " + OpenSslErrors());
      }
      GENERAL_NAME_set0_value(gen.get(), GEN_DNS, dns.release());
    }
    if (sk_GENERAL_NAME_push(gens.get(), gen.get()) == 0) {
      return Fail("cannot add a subject alternative name: " + OpenSslErrors());
    }
    gen.release();  // owned by gens now
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, gens.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return Fail("cannot add the subjectAltName extension: " + OpenSslErrors());
  }
  return {};
}

// Whether the certificate's subjectAltName contains every name.
bool HasAllNames(X509* cert, const std::vector<SanName>& names) {
  GenNamesPtr gens(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!gens) return names.empty();
  auto has = [&](const SanName& want) {
    for (int i = 0; i < sk_GENERAL_NAME_num(gens.get()); ++i) {
      const GENERAL_NAME* gen = sk_GENERAL_NAME_value(gens.get(), i);
      const ASN1_STRING* s = nullptr;
      if (want.is_ip && gen->type == GEN_IPADD) s = gen->d.iPAddress;
      if (!want.is_ip && gen->type == GEN_DNS) s = gen->d.dNSName;
      if (s == nullptr) continue;
      std::string got(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                      static_cast<std::size_t>(ASN1_STRING_length(s)));
      if (!want.is_ip) {
        std::ranges::transform(got, got.begin(),
                               [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      }
      if (got == want.value) return true;
    }
    return false;
  };
  return std::ranges::all_of(names, has);
}

struct Ca {
  X509Ptr cert;
  PkeyPtr key;
};

Result<Ca> CreateCa() {
  auto key = NewP256Key();
  if (!key) return std::unexpected(key.error());
  auto tag = RandomHex(8);
  if (!tag) return std::unexpected(tag.error());
  auto name = CnName("Vigil CA " + *tag);
  if (!name) return std::unexpected(name.error());
  auto cert = NewCert(name->get(), name->get(), key->get(), kCaDays);
  if (!cert) return std::unexpected(cert.error());
  if (auto r = AddExts(cert->get(), cert->get(),
                       {{NID_basic_constraints, "critical,CA:TRUE"},
                        {NID_key_usage, "critical,keyCertSign,cRLSign"},
                        {NID_subject_key_identifier, "hash"}});
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = Sign(cert->get(), key->get()); !r) return std::unexpected(r.error());
  return Ca{std::move(*cert), std::move(*key)};
}

Result<X509Ptr> IssueServerCert(const Ca& ca, EVP_PKEY* server_key,
                                const std::vector<SanName>& names) {
  auto name = CnName("vigil-server");
  if (!name) return std::unexpected(name.error());
  auto cert = NewCert(name->get(), X509_get_subject_name(ca.cert.get()), server_key, kServerDays);
  if (!cert) return std::unexpected(cert.error());
  if (auto r = AddExts(cert->get(), ca.cert.get(),
                       {{NID_basic_constraints, "critical,CA:FALSE"},
                        {NID_key_usage, "critical,digitalSignature"},
                        {NID_ext_key_usage, "serverAuth"},
                        {NID_subject_key_identifier, "hash"},
                        {NID_authority_key_identifier, "keyid:always"}});
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = AddSans(cert->get(), names); !r) return std::unexpected(r.error());
  if (auto r = Sign(cert->get(), ca.key.get()); !r) return std::unexpected(r.error());
  return cert;
}

Result<X509Ptr> LoadCert(const std::filesystem::path& path) {
  auto pem = ReadFile(path);
  if (!pem) return std::unexpected(pem.error());
  auto cert = ParseCert(*pem);
  if (!cert) return Fail("cannot load " + path.string() + ": " + cert.error().message);
  return cert;
}

Result<PkeyPtr> LoadKey(const std::filesystem::path& path) {
  auto pem = ReadFile(path);
  if (!pem) return std::unexpected(pem.error());
  auto key = ParsePrivateKey(*pem);
  if (!key) return Fail("cannot load " + path.string() + ": " + key.error().message);
  return key;
}

Result<void> WriteCert(const std::filesystem::path& path, X509* cert) {
  auto pem = CertToPem(cert);
  if (!pem) return std::unexpected(pem.error());
  return WriteFileAtomic(path, *pem, 0644);
}

Result<void> WriteKey(const std::filesystem::path& path, EVP_PKEY* key) {
  auto pem = KeyToPem(key);
  if (!pem) return std::unexpected(pem.error());
  return WriteFileAtomic(path, *pem, 0600);
}

// Existing private keys keep their content but never stay readable by others.
Result<void> EnsureMode(const std::filesystem::path& path, mode_t mode) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Fail("cannot stat " + path.string() + ": " + std::strerror(errno));
  }
  if ((st.st_mode & 07777) != mode && ::chmod(path.c_str(), mode) != 0) {
    return Fail("cannot chmod " + path.string() + ": " + std::strerror(errno));
  }
  return {};
}

Result<Ca> LoadOrCreateCa(const ServerPki& p) {
  namespace fs = std::filesystem;
  std::error_code ec;
  bool have_cert = fs::exists(p.ca_cert, ec);
  bool have_key = fs::exists(p.ca_key, ec);
  if (!have_cert && !have_key) {
    auto ca = CreateCa();
    if (!ca) return std::unexpected(ca.error());
    if (auto r = WriteKey(p.ca_key, ca->key.get()); !r) return std::unexpected(r.error());
    if (auto r = WriteCert(p.ca_cert, ca->cert.get()); !r) return std::unexpected(r.error());
    return ca;
  }
  if (have_cert != have_key) {
    return Fail("the CA is incomplete: " + (have_cert ? p.ca_key : p.ca_cert).string() +
                " is missing but " + (have_cert ? p.ca_cert : p.ca_key).string() +
                " exists; restore it from a backup, or remove both to create a new CA (every "
                "enrolled agent then has to enroll again)");
  }
  if (auto r = EnsureMode(p.ca_key, 0600); !r) return std::unexpected(r.error());
  auto cert = LoadCert(p.ca_cert);
  if (!cert) return std::unexpected(cert.error());
  auto key = LoadKey(p.ca_key);
  if (!key) return std::unexpected(key.error());
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return Fail(p.ca_key.string() + " is not the private key of " + p.ca_cert.string());
  }
  return Ca{std::move(*cert), std::move(*key)};
}

// Whether an existing server certificate can be kept: right key, issued by this CA, all names,
// and not about to expire.
bool ServerCertUsable(X509* cert, EVP_PKEY* key, const Ca& ca, const std::vector<SanName>& names) {
  bool ok =
      X509_check_private_key(cert, key) == 1 &&
      VerifyAgainstCa(cert, ca.cert.get(), nullptr, X509_PURPOSE_SSL_SERVER, "").has_value() &&
      HasAllNames(cert, names) && X509_cmp_time(X509_get0_notAfter(cert), nullptr) > 0;
  if (ok) {
    time_t soon = time(nullptr) + kServerRenewBeforeSeconds;
    ok = X509_cmp_time(X509_get0_notAfter(cert), &soon) > 0;
  }
  ERR_clear_error();
  return ok;
}

Result<void> CheckIdentity(const std::string& identity) {
  if (identity.empty() || identity.size() > 64) {
    return Fail("invalid certificate identity '" + identity + "': must be 1 to 64 characters");
  }
  for (char c : identity) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != ':' && c != '@') {
      return Fail("invalid certificate identity '" + identity +
                  "': only letters, digits and - _ . : @ are allowed");
    }
  }
  return {};
}

}  // namespace

Result<ServerPki> EnsureServerPki(const std::filesystem::path& data_dir,
                                  const std::vector<std::string>& extra_names) {
  namespace fs = std::filesystem;
  auto names = ServerNames(extra_names);
  if (!names) return std::unexpected(names.error());

  const fs::path dir = data_dir / "pki";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail("cannot create " + dir.string() + ": " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) {
    return Fail("cannot chmod 0700 " + dir.string() + ": " + std::strerror(errno));
  }
  ServerPki p{dir / "ca.crt", dir / "ca.key", dir / "server.crt", dir / "server.key"};

  auto ca = LoadOrCreateCa(p);
  if (!ca) return std::unexpected(ca.error());

  PkeyPtr server_key;
  if (fs::exists(p.server_key, ec)) {
    if (auto r = EnsureMode(p.server_key, 0600); !r) return std::unexpected(r.error());
    auto key = LoadKey(p.server_key);
    if (!key) return std::unexpected(key.error());
    server_key = std::move(*key);
  } else {
    auto key = NewP256Key();
    if (!key) return std::unexpected(key.error());
    if (auto r = WriteKey(p.server_key, key->get()); !r) return std::unexpected(r.error());
    server_key = std::move(*key);
  }

  if (fs::exists(p.server_cert, ec)) {
    auto cert = LoadCert(p.server_cert);
    if (cert && ServerCertUsable(cert->get(), server_key.get(), *ca, *names)) return p;
  }
  auto cert = IssueServerCert(*ca, server_key.get(), *names);
  if (!cert) return std::unexpected(cert.error());
  if (auto r = WriteCert(p.server_cert, cert->get()); !r) return std::unexpected(r.error());
  return p;
}

Result<KeyAndCsr> MakeKeyAndCsr() {
  auto key = NewP256Key();
  if (!key) return std::unexpected(key.error());
  ReqPtr req(X509_REQ_new());
  if (!req) return Fail("cannot allocate a CSR: " + OpenSslErrors());
  auto name = CnName("vigil-agent");  // placeholder: the CA sets the real identity
  if (!name) return std::unexpected(name.error());
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_subject_name(req.get(), name->get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key->get()) != 1) {
    return Fail("cannot fill in the CSR: " + OpenSslErrors());
  }
  if (X509_REQ_sign(req.get(), key->get(), EVP_sha256()) <= 0) {
    return Fail("cannot sign the CSR: " + OpenSslErrors());
  }
  auto key_pem = KeyToPem(key->get());
  if (!key_pem) return std::unexpected(key_pem.error());
  auto csr_pem = CsrToPem(req.get());
  if (!csr_pem) return std::unexpected(csr_pem.error());
  return KeyAndCsr{std::move(*key_pem), std::move(*csr_pem)};
}

Result<std::string> SignClientCsr(const ServerPki& pki, const std::string& csr_pem,
                                  const std::string& identity, int valid_days) {
  if (auto r = CheckIdentity(identity); !r) return std::unexpected(r.error());
  if (valid_days <= 0 || valid_days > kCaDays) {
    return Fail("invalid client certificate lifetime " + std::to_string(valid_days) +
                " days: must be 1 to " + std::to_string(kCaDays));
  }
  auto req = ParseCsr(csr_pem);
  if (!req) return Fail("refusing the CSR: " + req.error().message);
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req->get());
  if (pub == nullptr)
    return Fail("refusing the CSR: it has no usable public key: " + OpenSslErrors());
  if (X509_REQ_verify(req->get(), pub) != 1) {
    return Fail(
        "refusing the CSR: its signature does not verify with its own public key "
        "(corrupted or tampered request): " +
        OpenSslErrors());
  }
  if (EVP_PKEY_get_security_bits(pub) < 112) {
    return Fail("refusing the CSR: its key is too weak (" +
                std::to_string(EVP_PKEY_get_security_bits(pub)) +
                " security bits, at least 112 needed)");
  }

  Ca ca;
  {
    auto cert = LoadCert(pki.ca_cert);
    if (!cert) return std::unexpected(cert.error());
    auto key = LoadKey(pki.ca_key);
    if (!key) return std::unexpected(key.error());
    ca = Ca{std::move(*cert), std::move(*key)};
  }
  auto name = CnName(identity);
  if (!name) return std::unexpected(name.error());
  auto cert = NewCert(name->get(), X509_get_subject_name(ca.cert.get()), pub, valid_days);
  if (!cert) return std::unexpected(cert.error());
  // Never outlive the CA.
  if (ASN1_TIME_compare(X509_get0_notAfter(cert->get()), X509_get0_notAfter(ca.cert.get())) > 0 &&
      X509_set1_notAfter(cert->get(), X509_get0_notAfter(ca.cert.get())) != 1) {
    return Fail("cannot set the certificate's expiry: " + OpenSslErrors());
  }
  if (auto r = AddExts(cert->get(), ca.cert.get(),
                       {{NID_basic_constraints, "critical,CA:FALSE"},
                        {NID_key_usage, "critical,digitalSignature"},
                        {NID_ext_key_usage, "clientAuth"},
                        {NID_subject_key_identifier, "hash"},
                        {NID_authority_key_identifier, "keyid:always"}});
      !r) {
    return std::unexpected(r.error());
  }
  if (auto r = Sign(cert->get(), ca.key.get()); !r) return std::unexpected(r.error());
  return CertToPem(cert->get());
}

Result<std::string> CertFingerprint(const std::string& cert_pem) {
  auto cert = ParseCert(cert_pem);
  if (!cert) return std::unexpected(cert.error());
  return Fingerprint(cert->get());
}

Result<std::string> CertCommonName(const std::string& cert_pem) {
  auto cert = ParseCert(cert_pem);
  if (!cert) return std::unexpected(cert.error());
  X509_NAME* subject = X509_get_subject_name(cert->get());
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx < 0) return Fail("the certificate's subject has no common name (CN)");
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return Fail("cannot decode the certificate's common name: " + OpenSslErrors());
  OsslPtr<unsigned char, FreeOpenSslString> owned(utf8);
  return std::string(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
}

}  // namespace vigil::pki
