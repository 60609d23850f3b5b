#include "sim/tls.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

namespace kubesim {
namespace {

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using BasicConstraintsPtr = std::unique_ptr<BASIC_CONSTRAINTS, Deleter<BASIC_CONSTRAINTS_free>>;
struct NamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
using NamesPtr = std::unique_ptr<GENERAL_NAMES, NamesFree>;

X509Ptr parse_cert(const std::string& pem) {
  std::unique_ptr<BIO, Deleter<BIO_free>> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

PkeyPtr parse_key(const std::string& pem) {
  std::unique_ptr<BIO, Deleter<BIO_free>> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// Verifies `leaf` against `ca` for TLS server use, optionally for a host or IP.
bool verifies(X509* leaf, X509* ca, const std::string& host = "", const std::string& ip = "") {
  StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca);
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  if (!host.empty()) X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  if (!ip.empty()) X509_VERIFY_PARAM_set1_ip_asc(param, ip.c_str());
  return X509_verify_cert(ctx.get()) == 1;
}

std::vector<std::string> sans(X509* cert) {
  std::vector<std::string> out;
  NamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(
                                             ASN1_STRING_get0_data(name->d.dNSName)),
                                         ASN1_STRING_length(name->d.dNSName)));
    } else if (name->type == GEN_IPADD) {
      const unsigned char* b = ASN1_STRING_get0_data(name->d.iPAddress);
      if (ASN1_STRING_length(name->d.iPAddress) == 4) {
        out.push_back("IP:" + std::to_string(b[0]) + "." + std::to_string(b[1]) + "." +
                      std::to_string(b[2]) + "." + std::to_string(b[3]));
      } else {
        out.push_back("IP:v6");
      }
    }
  }
  return out;
}

TEST(GenerateTlsMaterial, ProducesServerCertificateThatVerifiesAgainstItsCa) {
  auto material = generate_tls_material({}, {});
  ASSERT_TRUE(material) << material.error().message;
  auto ca = parse_cert(material->ca_cert_pem);
  auto leaf = parse_cert(material->server_cert_pem);
  ASSERT_TRUE(ca && leaf);
  EXPECT_TRUE(verifies(leaf.get(), ca.get()));
  EXPECT_TRUE(verifies(leaf.get(), ca.get(), "localhost"));
  EXPECT_TRUE(verifies(leaf.get(), ca.get(), "", "127.0.0.1"));
  EXPECT_FALSE(verifies(leaf.get(), ca.get(), "example.com"));
  EXPECT_FALSE(verifies(leaf.get(), ca.get(), "", "10.0.0.1"));
}

TEST(GenerateTlsMaterial, KeyMatchesServerCertificate) {
  auto material = generate_tls_material({}, {});
  ASSERT_TRUE(material);
  auto leaf = parse_cert(material->server_cert_pem);
  auto key = parse_key(material->server_key_pem);
  ASSERT_TRUE(leaf && key);
  EXPECT_EQ(X509_check_private_key(leaf.get(), key.get()), 1);
}

TEST(GenerateTlsMaterial, CaIsMarkedAsCertificateAuthorityForSigning) {
  auto material = generate_tls_material({}, {});
  ASSERT_TRUE(material);
  auto ca = parse_cert(material->ca_cert_pem);
  ASSERT_TRUE(ca);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_TRUE(X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN);
  BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(ca.get(), NID_basic_constraints, nullptr, nullptr)));
  ASSERT_TRUE(bc);
  EXPECT_TRUE(bc->ca);
}

TEST(GenerateTlsMaterial, ServerCertificateIsForServerAuthAndNotACa) {
  auto material = generate_tls_material({}, {});
  ASSERT_TRUE(material);
  auto leaf = parse_cert(material->server_cert_pem);
  ASSERT_TRUE(leaf);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  EXPECT_TRUE(X509_get_extended_key_usage(leaf.get()) & XKU_SSL_SERVER);
  EXPECT_EQ(X509_check_purpose(leaf.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
}

TEST(GenerateTlsMaterial, IsValidForAboutOneYearStartingNow) {
  auto material = generate_tls_material({}, {});
  ASSERT_TRUE(material);
  auto leaf = parse_cert(material->server_cert_pem);
  int days = 0;
  int seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(leaf.get())), 1);
  EXPECT_GE(days, 364);
  EXPECT_LE(days, 366);
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(leaf.get())), 0);  // already valid
}

TEST(GenerateTlsMaterial, IncludesDefaultAndRequestedSubjectAltNamesOnce) {
  auto material = generate_tls_material({"10.1.2.3", "127.0.0.1"}, {"kubesim.local", "localhost"});
  ASSERT_TRUE(material) << material.error().message;
  auto leaf = parse_cert(material->server_cert_pem);
  EXPECT_EQ(sans(leaf.get()), (std::vector<std::string>{"IP:127.0.0.1", "IP:10.1.2.3",
                                                        "DNS:localhost", "DNS:kubesim.local"}));
  auto ca = parse_cert(material->ca_cert_pem);
  EXPECT_TRUE(verifies(leaf.get(), ca.get(), "kubesim.local"));
  EXPECT_TRUE(verifies(leaf.get(), ca.get(), "", "10.1.2.3"));
}

TEST(GenerateTlsMaterial, AcceptsIpv6SubjectAltName) {
  auto material = generate_tls_material({"::1"}, {});
  ASSERT_TRUE(material) << material.error().message;
  auto leaf = parse_cert(material->server_cert_pem);
  auto ca = parse_cert(material->ca_cert_pem);
  EXPECT_TRUE(verifies(leaf.get(), ca.get(), "", "::1"));
}

TEST(GenerateTlsMaterial, RejectsInvalidIpSanAsInternalError) {
  auto material = generate_tls_material({"not-an-ip"}, {});
  ASSERT_FALSE(material);
  EXPECT_EQ(material.error().code, 500);
  EXPECT_NE(material.error().message.find("not-an-ip"), std::string::npos);
}

TEST(GenerateTlsMaterial, RejectsDnsSanThatCouldInjectAnotherName) {
  auto material = generate_tls_material({}, {"evil.com,IP:1.2.3.4"});
  ASSERT_FALSE(material);
  EXPECT_EQ(material.error().code, 500);
}

TEST(GenerateTlsMaterial, EachCallMintsAFreshCa) {
  auto a = generate_tls_material({}, {});
  auto b = generate_tls_material({}, {});
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->ca_cert_pem, b->ca_cert_pem);
  auto leaf_a = parse_cert(a->server_cert_pem);
  auto ca_b = parse_cert(b->ca_cert_pem);
  EXPECT_FALSE(verifies(leaf_a.get(), ca_b.get()));
}

}  // namespace
}  // namespace kubesim
