// Label and field selectors, parsed and matched the way the real API server
// does it (k8s.io/apimachinery/pkg/labels and pkg/fields), so that
// `?labelSelector=` / `?fieldSelector=` and the selectors inside Services and
// Deployments behave, and fail, exactly as kubectl and client-go expect.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/api_error.h"

namespace kubesim {

// selection.Operator. Exists/DoesNotExist take no values, In/NotIn a set,
// the rest exactly one value (Gt/Lt an integer).
enum class LabelOperator {
  kEquals,        // "="
  kDoubleEquals,  // "==" (same meaning as "=", kept apart so String() round-trips)
  kNotEquals,     // "!="
  kIn,
  kNotIn,
  kExists,
  kDoesNotExist,
  kGreaterThan,  // ">" — the string form accepts it, metav1.LabelSelector does not
  kLessThan,     // "<"
};

// labels.Requirement: one term of a selector; a selector is the AND of them.
struct LabelRequirement {
  std::string key;
  LabelOperator op = LabelOperator::kExists;
  std::vector<std::string> values;

  bool matches(const json& labels) const;
  std::string to_string() const;
};

class LabelSelector {
 public:
  // String form from ?labelSelector=: "a=b,c!=d,e in (x,y),f notin (z),g,!h".
  // Errors carry the real server's message, e.g. `unable to parse requirement: ...`.
  static Result<LabelSelector> parse(std::string_view text);

  // metav1.LabelSelector {matchLabels, matchExpressions} as in Deployments,
  // ReplicaSets, Jobs. Follows metav1.LabelSelectorAsSelector: a null selector
  // selects nothing(), while an empty object {} selects everything().
  static Result<LabelSelector> from_json(const json& selector);

  // A plain label map, as in a Service's or ReplicationController's
  // spec.selector (labels.ValidatedSelectorFromSet): null or {} gives
  // everything(). Whether a missing Service selector means "no endpoints" is
  // the caller's call, not this function's.
  static Result<LabelSelector> from_set(const json& set);

  // labels.Everything(): no requirement, matches every object.
  static LabelSelector everything() { return LabelSelector{}; }
  // labels.Nothing(): what a null metav1.LabelSelector converts to.
  static LabelSelector nothing();

  // labels: a JSON object of string -> string, or null (no labels).
  bool matches(const json& labels) const;
  // True when the selector does not restrict anything (never for nothing()).
  bool empty() const { return !matches_nothing_ && requirements_.empty(); }
  // labels.Selector.String(): requirements sorted by key, values sorted.
  std::string to_string() const;
  const std::vector<LabelRequirement>& requirements() const { return requirements_; }

 private:
  std::vector<LabelRequirement> requirements_;  // sorted by key, as labels.Selector.Add does
  bool matches_nothing_ = false;
};

// One term of a field selector: `field=value` / `field==value` or `field!=value`.
struct FieldRequirement {
  std::string field;
  bool not_equal = false;
  std::string value;  // unescaped
};

class FieldSelector {
 public:
  // "metadata.name=foo,spec.nodeName!=,status.phase==Running". Only `=`,
  // `==` and `!=`; values may escape `\`, `,` and `=` with a backslash.
  // `allowed` lists the field labels the resource accepts besides
  // metadata.name and metadata.namespace; any other label is rejected with
  // `field label not supported: <label>`, the real server's wording.
  static Result<FieldSelector> parse(std::string_view text,
                                     const std::vector<std::string>& allowed);

  // Looks each field up in the object with field_value().
  bool matches(const json& object) const;
  bool empty() const { return requirements_.empty(); }
  // fields.Selector.RequiresExactMatch: the value an `=`/`==` term pins the
  // label to (used to narrow a list to one name or namespace).
  std::optional<std::string> exact(std::string_view label) const;
  // fields.Selector.String(), values re-escaped.
  std::string to_string() const;
  const std::vector<FieldRequirement>& requirements() const { return requirements_; }

 private:
  std::vector<FieldRequirement> requirements_;  // in the sorted order the parser produces
};

// The text a field selector compares against: the value at a dotted path
// ("spec.nodeName"). Missing fields and null read as "", booleans as
// "true"/"false", numbers in decimal; objects and arrays as "" since no
// real field label points at one.
std::string field_value(const json& object, std::string_view dotted_path);

}  // namespace kubesim
