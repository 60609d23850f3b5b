// Kubernetes resource quantities ("500m", "16Gi", "1.5", "2e3"), parsed the
// way k8s.io/apimachinery/pkg/api/resource does for the values the scheduler
// and the cost model compare: to an integer count of thousandths (milli-units),
// rounding fractions of a milli-unit up, as Quantity.MilliValue() does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/expected.h"

namespace frugal {

// "16Gi" -> 17179869184000; "250m" -> 250; "2" -> 2000. Errors name the
// offending text, in the API server's wording ("quantities must match the
// regular expression ...").
Expected<int64_t, std::string> parse_quantity_milli(std::string_view text);

// Whole units, rounded up ("1500m" -> 2), as Quantity.Value() does.
inline int64_t milli_to_units_ceil(int64_t milli) {
  return milli >= 0 ? (milli + 999) / 1000 : -((-milli) / 1000);
}

// Canonical-ish text for a milli value: "250m", "2", "16Gi" when it is an
// exact multiple of a binary suffix and at least 1Ki, else plain units.
std::string format_quantity_milli(int64_t milli, bool binary_si = false);

}  // namespace frugal
