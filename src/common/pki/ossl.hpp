// Internal to src/common/pki: RAII owners for OpenSSL objects, OpenSSL error text, and PEM/DER
// conversions shared by the PKI implementation files.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace vigil::pki::detail {

template <auto FreeFn>
struct OsslDeleter {
  template <class T>
  void operator()(T* p) const {
    FreeFn(p);
  }
};

template <class T, auto FreeFn>
using OsslPtr = std::unique_ptr<T, OsslDeleter<FreeFn>>;

using BioPtr = OsslPtr<BIO, BIO_free_all>;
using PkeyPtr = OsslPtr<EVP_PKEY, EVP_PKEY_free>;
using X509Ptr = OsslPtr<X509, X509_free>;
using ReqPtr = OsslPtr<X509_REQ, X509_REQ_free>;
using NamePtr = OsslPtr<X509_NAME, X509_NAME_free>;
using BnPtr = OsslPtr<BIGNUM, BN_free>;
using ExtPtr = OsslPtr<X509_EXTENSION, X509_EXTENSION_free>;
using GenNamesPtr = OsslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
using GenNamePtr = OsslPtr<GENERAL_NAME, GENERAL_NAME_free>;
using Ia5Ptr = OsslPtr<ASN1_IA5STRING, ASN1_IA5STRING_free>;
using OctetPtr = OsslPtr<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using EkuPtr = OsslPtr<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>;
using BasicConstraintsPtr = OsslPtr<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;
using Asn1BitStringPtr = OsslPtr<ASN1_BIT_STRING, ASN1_BIT_STRING_free>;
using StorePtr = OsslPtr<X509_STORE, X509_STORE_free>;
using StoreCtxPtr = OsslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using SslCtxPtr = OsslPtr<SSL_CTX, SSL_CTX_free>;
using SslPtr = OsslPtr<SSL, SSL_free>;

// Drains OpenSSL's thread-local error queue into one readable string ("no OpenSSL error" if empty).
std::string OpenSslErrors();

// PEM <-> objects. Errors say which kind of object could not be parsed and why.
Result<X509Ptr> ParseCert(std::string_view pem);
Result<PkeyPtr> ParsePrivateKey(std::string_view pem);
Result<ReqPtr> ParseCsr(std::string_view pem);
Result<std::string> CertToPem(X509* cert);
Result<std::string> KeyToPem(EVP_PKEY* key);  // PKCS#8, unencrypted
Result<std::string> CsrToPem(X509_REQ* req);
Result<std::string> Fingerprint(X509* cert);  // lower-case hex SHA-256 of the DER encoding

// Verifies `leaf` against the single trust anchor `ca` (intermediates taken from `untrusted`, may
// be null) for the given X509_PURPOSE_*; if `host` is non-empty the leaf must also match it (DNS
// name or IP address). The error is X509_verify_cert_error_string's text.
Result<void> VerifyAgainstCa(X509* leaf, X509* ca, STACK_OF(X509) * untrusted, int purpose,
                             const std::string& host);

}  // namespace vigil::pki::detail
