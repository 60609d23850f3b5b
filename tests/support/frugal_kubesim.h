// What integration tests of the reconcilers share: the repository root (for
// crds/ and sim/examples/), a deadline-bounded poll (poll.h), and installing
// Frugal's CRDs into an in-process kubesim.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "common/yaml_json.h"
#include "sim/apiserver.h"
#include "tests/support/poll.h"

namespace frugal::testing {

// The checkout this test was built from.
inline const std::string kRepoRoot =
    std::string(__FILE__).substr(0, std::string(__FILE__).rfind("/tests/"));

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
