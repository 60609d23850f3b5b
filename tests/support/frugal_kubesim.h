// What integration tests of the reconcilers share: the repository root (for
// crds/ and sim/examples/), a deadline-bounded poll, and installing Frugal's
// CRDs into an in-process kubesim.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "common/yaml_json.h"
#include "sim/apiserver.h"

namespace frugal::testing {

// The checkout this test was built from.
inline const std::string kRepoRoot =
    std::string(__FILE__).substr(0, std::string(__FILE__).rfind("/tests/"));

// Polls `pred` every 10 ms until it holds or `limit` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::steady_clock::duration limit = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Creates every CRD in crds/ (fatal test failure when one cannot be).
inline void install_frugal_crds(kubesim::ApiServer& api) {
  for (const char* file : {"/crds/pricebook.yaml", "/crds/trainingjob.yaml"}) {
    auto docs = yaml_file_to_json(kRepoRoot + file);
    ASSERT_TRUE(docs) << docs.error();
    for (const auto& d : *docs) {
      auto r = api.create("apiextensions.k8s.io", "v1", "customresourcedefinitions", "", d);
      ASSERT_TRUE(r) << r.error().message;
    }
  }
}

}  // namespace frugal::testing
