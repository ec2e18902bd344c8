// Vigil's own small PKI (OpenSSL): the server's CA and certificates, agents' keys and CSRs, signing
// an agent's CSR with its agent id as identity, and pinning the CA during enrollment.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace vigil::pki {

struct KeyAndCsr {
  std::string key_pem;
  std::string csr_pem;
};

struct ServerPki {
  std::filesystem::path ca_cert;      // DATA/pki/ca.crt
  std::filesystem::path ca_key;       // DATA/pki/ca.key (0600)
  std::filesystem::path server_cert;  // DATA/pki/server.crt (SANs: localhost, loopback, host...)
  std::filesystem::path server_key;   // DATA/pki/server.key (0600)
};

// Creates the CA and the server certificate under dir/pki at first start; reuses them afterwards.
Result<ServerPki> EnsureServerPki(const std::filesystem::path& data_dir,
                                  const std::vector<std::string>& extra_names = {});
// A new EC P-256 key and a CSR for it (the subject CN is a placeholder; the CA sets the identity).
Result<KeyAndCsr> MakeKeyAndCsr();
// Signs a CSR as a TLS client certificate whose subject CN is `identity` (the agent id).
Result<std::string> SignClientCsr(const ServerPki& pki, const std::string& csr_pem,
                                  const std::string& identity, int valid_days);
// Lower-case hex SHA-256 of a certificate's DER encoding.
Result<std::string> CertFingerprint(const std::string& cert_pem);
// Subject CN of a certificate.
Result<std::string> CertCommonName(const std::string& cert_pem);
// Connects with TLS to host:port, takes the certificate chain the server presents, and returns the
// PEM of the chain certificate whose fingerprint equals ca_fingerprint, after checking that the
// server's leaf certificate verifies against it (and names host). Used by enrollment, before the
// agent trusts anyone. The server must send its CA in the chain (server.crt followed by ca.crt).
Result<std::string> FetchPinnedCa(const std::string& host, int port,
                                  const std::string& ca_fingerprint);
Result<std::string> ReadFile(const std::filesystem::path& path);
// Writes atomically (temp file + rename) with the given mode.
Result<void> WriteFileAtomic(const std::filesystem::path& path, const std::string& content,
                             unsigned mode);

}  // namespace vigil::pki
