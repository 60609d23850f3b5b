// Patch application for PATCH requests: JSON merge patch (RFC 7386), JSON
// patch (RFC 6902) and Kubernetes strategic merge patch. The strategic merge
// follows k8s.io/apimachinery/pkg/util/strategicpatch/patch.go (mergeMap,
// mergeSlice, normalizeElementOrder) with the list strategies of k8s.io/api
// compiled into a table, since kubesim holds objects as JSON without Go types.
#include "sim/patch.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>
#include <set>
#include <span>
#include <utility>
#include <vector>

namespace kubesim {

// ---------------------------------------------------------------------------
// Content types

std::optional<PatchType> patch_type_from_content_type(std::string_view content_type) {
  std::string media(content_type.substr(0, content_type.find(';')));
  std::erase_if(media, [](unsigned char c) { return std::isspace(c); });
  std::transform(media.begin(), media.end(), media.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static constexpr std::array<std::pair<std::string_view, PatchType>, 4> kMediaTypes{{
      {"application/merge-patch+json", PatchType::Merge},
      {"application/json-patch+json", PatchType::Json},
      {"application/strategic-merge-patch+json", PatchType::StrategicMerge},
      {"application/apply-patch+yaml", PatchType::Apply},
  }};
  for (const auto& [name, type] : kMediaTypes) {
    if (media == name) return type;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// RFC 7386 JSON merge patch

json merge_patch(const json& target, const json& patch) {
  if (!patch.is_object()) return patch;
  json result = target.is_object() ? target : json::object();
  for (const auto& [name, value] : patch.items()) {
    if (value.is_null()) {
      result.erase(name);
      continue;
    }
    auto existing = result.find(name);
    json current = existing != result.end() ? std::move(*existing) : json();
    result[name] = merge_patch(current, value);
  }
  return result;
}

// ---------------------------------------------------------------------------
// RFC 6902 JSON patch

namespace {

// The real server refuses longer patches before applying them
// (k8s.io/apiserver/pkg/endpoints/handlers/patch.go, maxJSONPatchOperations).
constexpr size_t kMaxJsonPatchOperations = 10000;
constexpr int kRequestEntityTooLarge = 413;

enum class OpKind { Add, Remove, Replace, Move, Copy, Test };

struct OpSpec {
  std::string_view name;
  OpKind kind;
  bool needs_value;
  bool needs_from;
};

constexpr std::array<OpSpec, 6> kOpSpecs{{
    {"add", OpKind::Add, true, false},
    {"remove", OpKind::Remove, false, false},
    {"replace", OpKind::Replace, true, false},
    {"move", OpKind::Move, false, true},
    {"copy", OpKind::Copy, false, true},
    {"test", OpKind::Test, true, false},
}};

struct Pointer {
  std::string text;                 // as written, for messages
  std::vector<std::string> tokens;  // reference tokens with ~1 and ~0 undone
};

struct Operation {
  const OpSpec* spec = nullptr;
  Pointer path;
  Pointer from;  // move and copy
  json value;    // add, replace and test
};

// RFC 6901: "" is the whole document, otherwise '/'-separated tokens in which
// "~1" stands for '/' and "~0" for '~'; any other '~' is malformed.
Result<Pointer> parse_pointer(const std::string& text) {
  Pointer pointer{text, {}};
  if (text.empty()) return pointer;
  if (text.front() != '/') {
    return Unexpected(bad_request("invalid JSON pointer \"" + text + "\": must start with '/'"));
  }
  std::string token;
  for (size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '/') {
      pointer.tokens.push_back(std::move(token));
      token.clear();
    } else if (c != '~') {
      token += c;
    } else if (i + 1 < text.size() && (text[i + 1] == '0' || text[i + 1] == '1')) {
      token += text[++i] == '0' ? '~' : '/';
    } else {
      return Unexpected(
          bad_request("invalid JSON pointer \"" + text + "\": '~' must be followed by 0 or 1"));
    }
  }
  pointer.tokens.push_back(std::move(token));
  return pointer;
}

const std::string* string_member(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

Result<Operation> decode_operation(const json& raw, size_t index) {
  const std::string where = "json patch operation " + std::to_string(index);
  if (!raw.is_object()) return Unexpected(bad_request(where + " is not an object"));
  const std::string* name = string_member(raw, "op");
  if (name == nullptr) return Unexpected(bad_request(where + " has no string \"op\""));
  auto spec = std::find_if(kOpSpecs.begin(), kOpSpecs.end(),
                           [&](const OpSpec& s) { return s.name == *name; });
  if (spec == kOpSpecs.end()) {
    return Unexpected(bad_request(where + " has unknown op \"" + *name + "\""));
  }
  Operation op;
  op.spec = &*spec;
  const std::string* path = string_member(raw, "path");
  if (path == nullptr) return Unexpected(bad_request(where + " (" + *name + ") has no \"path\""));
  auto parsed_path = parse_pointer(*path);
  if (!parsed_path) return Unexpected(std::move(parsed_path).error());
  op.path = std::move(*parsed_path);
  if (spec->needs_value) {
    auto value = raw.find("value");
    if (value == raw.end()) {
      return Unexpected(bad_request(where + " (" + *name + ") has no \"value\""));
    }
    op.value = *value;
  }
  if (spec->needs_from) {
    const std::string* from = string_member(raw, "from");
    if (from == nullptr) {
      return Unexpected(bad_request(where + " (" + *name + ") has no \"from\""));
    }
    auto parsed_from = parse_pointer(*from);
    if (!parsed_from) return Unexpected(std::move(parsed_from).error());
    op.from = std::move(*parsed_from);
  }
  return op;
}

Result<std::vector<Operation>> decode_json_patch(const json& ops) {
  if (!ops.is_array()) {
    return Unexpected(bad_request(std::string("json patch must be an array of operations, got ") +
                                  ops.type_name()));
  }
  if (ops.size() > kMaxJsonPatchOperations) {
    ApiError too_large;
    too_large.code = kRequestEntityTooLarge;
    too_large.reason = "RequestEntityTooLarge";
    too_large.message =
        "Request entity too large: The allowed maximum operations in a JSON patch is " +
        std::to_string(kMaxJsonPatchOperations) + ", got " + std::to_string(ops.size());
    return Unexpected(std::move(too_large));
  }
  std::vector<Operation> decoded;
  decoded.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    auto op = decode_operation(ops[i], i);
    if (!op) return Unexpected(std::move(op).error());
    decoded.push_back(std::move(*op));
  }
  return decoded;
}

// An array index token: decimal digits without a leading zero (RFC 6901 §4).
// "-" (one past the end) is handled by the callers that accept it.
std::optional<size_t> parse_index(const std::string& token) {
  if (token.empty() || (token.size() > 1 && token.front() == '0')) return std::nullopt;
  size_t index = 0;
  const char* end = token.data() + token.size();
  auto [stop, ec] = std::from_chars(token.data(), end, index);
  if (ec != std::errc() || stop != end) return std::nullopt;
  return index;
}

// The value `tokens` name in `doc`, or nullptr when any step is missing.
json* find_value(json& doc, std::span<const std::string> tokens) {
  json* node = &doc;
  for (const auto& token : tokens) {
    if (node->is_object()) {
      auto it = node->find(token);
      if (it == node->end()) return nullptr;
      node = &*it;
    } else if (node->is_array()) {
      auto index = parse_index(token);
      if (!index || *index >= node->size()) return nullptr;
      node = &(*node)[*index];
    } else {
      return nullptr;
    }
  }
  return node;
}

std::span<const std::string> parent_tokens(const Pointer& p) {
  return std::span<const std::string>(p.tokens).first(p.tokens.size() - 1);
}

ApiError missing_path(std::string_view op, const Pointer& p) {
  return unprocessable(std::string(op) +
                       " operation does not apply: doc is missing path: " + p.text);
}

ApiError bad_index(std::string_view op, const Pointer& p, size_t size) {
  return unprocessable(std::string(op) + " operation does not apply: invalid index \"" +
                       p.tokens.back() + "\" for an array of " + std::to_string(size) +
                       " elements: " + p.text);
}

Result<void> add_value(json& doc, const Pointer& path, json value, std::string_view op) {
  if (path.tokens.empty()) {
    doc = std::move(value);
    return {};
  }
  json* parent = find_value(doc, parent_tokens(path));
  if (parent == nullptr || !parent->is_structured()) return Unexpected(missing_path(op, path));
  const std::string& last = path.tokens.back();
  if (parent->is_object()) {
    (*parent)[last] = std::move(value);
    return {};
  }
  if (last == "-") {
    parent->push_back(std::move(value));
    return {};
  }
  auto index = parse_index(last);
  if (!index || *index > parent->size()) return Unexpected(bad_index(op, path, parent->size()));
  parent->insert(parent->begin() + static_cast<std::ptrdiff_t>(*index), std::move(value));
  return {};
}

Result<json> remove_value(json& doc, const Pointer& path, std::string_view op) {
  if (path.tokens.empty()) {
    return Unexpected(
        unprocessable(std::string(op) + " operation does not apply: cannot remove the whole doc"));
  }
  json* parent = find_value(doc, parent_tokens(path));
  if (parent == nullptr || !parent->is_structured()) return Unexpected(missing_path(op, path));
  const std::string& last = path.tokens.back();
  if (parent->is_object()) {
    auto it = parent->find(last);
    if (it == parent->end()) return Unexpected(missing_path(op, path));
    json removed = std::move(*it);
    parent->erase(it);
    return removed;
  }
  auto index = parse_index(last);
  if (!index || *index >= parent->size()) return Unexpected(bad_index(op, path, parent->size()));
  json removed = std::move((*parent)[*index]);
  parent->erase(parent->begin() + static_cast<std::ptrdiff_t>(*index));
  return removed;
}

bool is_proper_prefix(const Pointer& prefix, const Pointer& p) {
  return prefix.tokens.size() < p.tokens.size() &&
         std::equal(prefix.tokens.begin(), prefix.tokens.end(), p.tokens.begin());
}

Result<void> apply_operation(json& doc, const Operation& op) {
  const std::string_view name = op.spec->name;
  switch (op.spec->kind) {
    case OpKind::Add:
      return add_value(doc, op.path, op.value, name);
    case OpKind::Remove: {
      auto removed = remove_value(doc, op.path, name);
      if (!removed) return Unexpected(std::move(removed).error());
      return {};
    }
    case OpKind::Replace: {
      json* target = find_value(doc, op.path.tokens);
      if (target == nullptr) return Unexpected(missing_path(name, op.path));
      *target = op.value;
      return {};
    }
    case OpKind::Move: {
      if (is_proper_prefix(op.from, op.path)) {
        return Unexpected(unprocessable("move operation does not apply: cannot move " +
                                        op.from.text + " into its own child " + op.path.text));
      }
      auto moved = remove_value(doc, op.from, name);
      if (!moved) return Unexpected(std::move(moved).error());
      return add_value(doc, op.path, std::move(*moved), name);
    }
    case OpKind::Copy: {
      json* source = find_value(doc, op.from.tokens);
      if (source == nullptr) return Unexpected(missing_path(name, op.from));
      return add_value(doc, op.path, *source, name);
    }
    case OpKind::Test: {
      // json equality compares numbers by value (1 == 1.0) and objects
      // regardless of member order, as RFC 6902 §4.6 asks.
      json* target = find_value(doc, op.path.tokens);
      if (target == nullptr || *target != op.value) {
        return Unexpected(unprocessable("testing value " + op.path.text + " failed: test failed"));
      }
      return {};
    }
  }
  return Unexpected(internal_error("unhandled json patch operation"));
}

}  // namespace

Result<json> json_patch(const json& target, const json& ops) {
  auto decoded = decode_json_patch(ops);
  if (!decoded) return Unexpected(std::move(decoded).error());
  json doc = target;  // operations apply all or nothing
  for (const auto& op : *decoded) {
    auto applied = apply_operation(doc, op);
    if (!applied) return Unexpected(std::move(applied).error());
  }
  return doc;
}

// ---------------------------------------------------------------------------
// Strategic merge patch

namespace {

// Directive keys, as in strategicpatch/patch.go.
constexpr char kPatchDirective[] = "$patch";
constexpr char kRetainKeysDirective[] = "$retainKeys";
constexpr std::string_view kSetElementOrderPrefix = "$setElementOrder/";
constexpr std::string_view kDeleteFromPrimitiveListPrefix = "$deleteFromPrimitiveList/";
constexpr std::string_view kReplace = "replace";
constexpr std::string_view kDelete = "delete";
constexpr std::string_view kMerge = "merge";

enum class ListMerge {
  Atomic,  // no patchStrategy: the patch's list replaces the live one
  Union,   // patchStrategy:"merge" on scalars: a set union
  ByKey,   // patchStrategy:"merge" + patchMergeKey: entries merge by that key
};

struct ListStrategy {
  ListMerge merge = ListMerge::Atomic;
  std::string_view key;  // ByKey only
};

constexpr ListStrategy by_key(std::string_view key) { return {ListMerge::ByKey, key}; }
constexpr ListStrategy kUnion{ListMerge::Union, {}};

// A list field's strategy, found by its name and, where the name alone is
// ambiguous, the field that encloses it (its "parent": list elements add no
// level) and the object's kind. Empty parent or kind matches any.
struct ListRule {
  std::string_view field;
  std::string_view parent;
  std::string_view kind;
  ListStrategy strategy;
};

// PodSpec sits at .spec of a Pod and at .template.spec (or deeper) of every
// workload, so its fields' parent is always "spec". Container fields are found
// under "containers"; initContainers and ephemeralContainers count as that too.
constexpr std::string_view kAny;
constexpr std::string_view kSpec = "spec";
constexpr std::string_view kContainer = "containers";
constexpr std::string_view kMetadata = "metadata";
constexpr std::string_view kStatus = "status";

// The fields of k8s.io/api (as of v1.30) tagged patchStrategy:"merge"; every other
// list is atomic. Notably Pod tolerations and Node taints carry no strategy,
// so patches replace them, and Endpoints subsets' addresses and ports too.
constexpr ListRule kListRules[] = {
    // meta/v1 ObjectMeta
    {"finalizers", kMetadata, kAny, kUnion},
    {"ownerReferences", kMetadata, kAny, by_key("uid")},
    // core/v1 PodSpec
    {"containers", kSpec, kAny, by_key("name")},
    {"initContainers", kSpec, kAny, by_key("name")},
    {"ephemeralContainers", kSpec, kAny, by_key("name")},
    {"volumes", kSpec, kAny, by_key("name")},  // merge,retainKeys
    {"imagePullSecrets", kSpec, kAny, by_key("name")},
    {"hostAliases", kSpec, kAny, by_key("ip")},
    {"topologySpreadConstraints", kSpec, kAny, by_key("topologyKey")},
    {"resourceClaims", kSpec, kAny, by_key("name")},  // merge,retainKeys
    {"schedulingGates", kSpec, kAny, by_key("name")},
    // core/v1 Container and EphemeralContainerCommon
    {"ports", kContainer, kAny, by_key("containerPort")},
    {"env", kContainer, kAny, by_key("name")},
    {"volumeMounts", kContainer, kAny, by_key("mountPath")},
    {"volumeDevices", kContainer, kAny, by_key("devicePath")},
    // core/v1 ServiceSpec: ports merge by port, not containerPort
    {"ports", kSpec, "Service", by_key("port")},
    // Conditions of PodStatus, NodeStatus, NamespaceStatus, the apps/v1 and
    // batch/v1 statuses and metav1.Condition lists all merge by type.
    {"conditions", kStatus, kAny, by_key("type")},
    // core/v1 PodStatus
    {"podIPs", kStatus, "Pod", by_key("ip")},
    {"hostIPs", kStatus, "Pod", by_key("ip")},
    // core/v1 NodeStatus and NodeSpec
    {"addresses", kStatus, "Node", by_key("type")},
    {"podCIDRs", kSpec, "Node", kUnion},
    // core/v1 ServiceAccount
    {"secrets", kAny, "ServiceAccount", by_key("name")},
    // admissionregistration/v1
    {"webhooks", kAny, "MutatingWebhookConfiguration", by_key("name")},
    {"webhooks", kAny, "ValidatingWebhookConfiguration", by_key("name")},
    // core/v1 PodStatus resourceClaimStatuses
    {"resourceClaimStatuses", kStatus, "Pod", by_key("name")},
};

std::string_view scope_of(std::string_view parent) {
  return parent == "initContainers" || parent == "ephemeralContainers" ? kContainer : parent;
}

ListStrategy list_strategy(std::string_view field, std::string_view parent, std::string_view kind) {
  const std::string_view scope = scope_of(parent);
  for (const auto& rule : kListRules) {
    if (rule.field == field && (rule.parent.empty() || rule.parent == scope) &&
        (rule.kind.empty() || rule.kind == kind)) {
      return rule.strategy;
    }
  }
  return {};
}

bool is_directive(std::string_view key) {
  return key == kPatchDirective || key == kRetainKeysDirective ||
         key.starts_with(kSetElementOrderPrefix) || key.starts_with(kDeleteFromPrimitiveListPrefix);
}

bool has_directive(const json& entry) {
  return entry.is_object() && entry.contains(kPatchDirective);
}

ApiError no_merge_key(const json& entry, std::string_view key) {
  return bad_request("map: " + entry.dump() +
                     " does not contain declared merge key: " + std::string(key));
}

ApiError unknown_patch_type(const json& directive, const json& entry) {
  return bad_request("unknown patch type: " + directive.dump() + " in map: " + entry.dump());
}

// The value an element is identified by in a merge list: its merge key's
// value for lists of maps, the element itself for lists of scalars.
const json* identity(const json& element, std::string_view key) {
  if (key.empty()) return &element;
  if (!element.is_object()) return nullptr;
  auto it = element.find(std::string(key));
  return it != element.end() ? &*it : nullptr;
}

constexpr size_t kNotListed = std::numeric_limits<size_t>::max();

// Position of `element` in `list`, compared by identity; kNotListed if absent.
size_t position_in(const json& list, const json& element, std::string_view key) {
  const json* id = identity(element, key);
  if (id == nullptr) return kNotListed;
  for (size_t i = 0; i < list.size(); ++i) {
    const json* other = identity(list[i], key);
    if (other != nullptr && *other == *id) return i;
  }
  return kNotListed;
}

// strategicpatch's normalizeElementOrder: the elements `patch_order` names
// take its order; the others ("server-only") keep their live order; the two
// runs are then interleaved so that a server-only element stays in front of
// a patched one it preceded in the live list. New elements therefore lead
// unless an order is given, which is why kubectl apply sends $setElementOrder.
json order_elements(const json& merged, const json& patch_order, const json& live_order,
                    std::string_view key) {
  std::vector<json> patched;
  std::vector<json> server_only;
  for (const auto& element : merged) {
    (position_in(patch_order, element, key) != kNotListed ? patched : server_only)
        .push_back(element);
  }
  auto by_position = [&](const json& order) {
    return [&order, key](const json& a, const json& b) {
      return position_in(order, a, key) < position_in(order, b, key);
    };
  };
  std::stable_sort(patched.begin(), patched.end(), by_position(patch_order));
  std::stable_sort(server_only.begin(), server_only.end(), by_position(live_order));

  json result = json::array();
  size_t i = 0;
  size_t j = 0;
  while (i < server_only.size() || j < patched.size()) {
    bool take_server_only = j == patched.size();
    if (i < server_only.size() && j < patched.size()) {
      const size_t left = position_in(live_order, server_only[i], key);
      const size_t right = position_in(live_order, patched[j], key);
      take_server_only = left != kNotListed && right != kNotListed && left < right;
    }
    result.push_back(take_server_only ? std::move(server_only[i++]) : std::move(patched[j++]));
  }
  return result;
}

// Merges one strategic merge patch into one object. `parent` is the name of
// the field holding the map being merged, which with the kind selects list
// strategies (see kListRules).
class StrategicMerger {
 public:
  explicit StrategicMerger(std::string_view kind) : kind_(kind) {}

  Result<json> merge_map(json original, const json& patch, std::string_view parent) const {
    if (auto directive = patch.find(kPatchDirective); directive != patch.end()) {
      return map_directive(*directive, patch, parent);
    }
    if (!original.is_object()) original = json::object();
    if (auto retained = apply_retain_keys(original, patch); !retained) {
      return Unexpected(std::move(retained).error());
    }
    std::set<std::string> ordered;  // fields merged together with their $setElementOrder
    for (const auto& [key, order] : patch.items()) {
      if (!key.starts_with(kSetElementOrderPrefix)) continue;
      const std::string field = key.substr(kSetElementOrderPrefix.size());
      auto merged = merge_ordered_list(original, patch, field, order, parent);
      if (!merged) return Unexpected(std::move(merged).error());
      if (*merged) ordered.insert(field);
    }
    for (const auto& [key, value] : patch.items()) {
      if (is_directive(key) || ordered.contains(key)) continue;
      if (value.is_null()) {
        original.erase(key);
        continue;
      }
      auto existing = original.find(key);
      auto merged = existing == original.end()
                        ? fresh_value(value, key, parent)
                        : merge_value(std::move(*existing), value, key, parent);
      if (!merged) return Unexpected(std::move(merged).error());
      original[key] = std::move(*merged);
    }
    // After the additions, so that a patch adding and deleting one value of
    // a set is deterministic (Go's map order leaves it to chance).
    for (const auto& [key, values] : patch.items()) {
      if (!key.starts_with(kDeleteFromPrimitiveListPrefix)) continue;
      auto deleted = delete_from_primitive_list(original, key, values);
      if (!deleted) return Unexpected(std::move(deleted).error());
    }
    return original;
  }

 private:
  // "$patch" in a map: replace it by the rest of the patch, or empty it.
  Result<json> map_directive(const json& directive, const json& patch,
                             std::string_view parent) const {
    if (directive == kReplace) {
      json rest = patch;
      rest.erase(kPatchDirective);
      return merge_map(json::object(), rest, parent);
    }
    if (directive == kDelete) return json::object();
    return Unexpected(unknown_patch_type(directive, patch));
  }

  // "$retainKeys": drop the live keys not listed; every key the patch sets
  // must be listed.
  static Result<void> apply_retain_keys(json& original, const json& patch) {
    auto directive = patch.find(kRetainKeysDirective);
    if (directive == patch.end()) return {};
    const auto bad_format = [&](const std::string& why) {
      return Unexpected(bad_request("invalid patch format of retainKeys: " + why));
    };
    if (!directive->is_array()) return bad_format("not a list: " + directive->dump());
    std::set<std::string> retained;
    for (const auto& key : *directive) {
      if (!key.is_string()) return bad_format("not a list of field names: " + directive->dump());
      retained.insert(key.get<std::string>());
    }
    for (const auto& [key, value] : patch.items()) {
      if (value.is_null() || is_directive(key) || retained.contains(key)) continue;
      return bad_format("\"" + key + "\" is set but not in " + directive->dump());
    }
    for (auto it = original.begin(); it != original.end();) {
      it = retained.contains(it.key()) ? std::next(it) : original.erase(it);
    }
    return {};
  }

  // "$setElementOrder/<field>": merges the field's list and orders it by the
  // directive. False when the field is not a merge list, or the patch does
  // not give it a list, so that the ordinary merge handles it.
  Result<bool> merge_ordered_list(json& original, const json& patch, const std::string& field,
                                  const json& order, std::string_view parent) const {
    const auto bad_format = [](const std::string& why) {
      return Unexpected(bad_request("invalid patch format of setElementOrder list: " + why));
    };
    if (field.empty()) {
      return bad_format("no field name after " + std::string(kSetElementOrderPrefix));
    }
    if (!order.is_array()) return bad_format("not a list: " + order.dump());
    const ListStrategy strategy = list_strategy(field, parent, kind_);
    if (strategy.merge == ListMerge::Atomic) return false;
    auto patch_list = patch.find(field);
    if (patch_list != patch.end() && !patch_list->is_array()) return false;
    const bool in_patch = patch_list != patch.end();
    auto live = original.find(field);
    const bool live_is_list = live != original.end() && live->is_array();
    if (!in_patch && !live_is_list) return true;  // nothing to order

    for (const auto& entry : order) {
      if (identity(entry, strategy.key) == nullptr) {
        return Unexpected(no_merge_key(entry, strategy.key));
      }
    }
    if (in_patch) {
      if (auto covered = check_order_covers_patch(*patch_list, order, strategy.key); !covered) {
        return Unexpected(std::move(covered).error());
      }
    }
    json live_list = live_is_list ? *live : json::array();
    json merged = live_list;
    if (in_patch) {
      auto result = merge_list(live_list, *patch_list, strategy, field);
      if (!result) return Unexpected(std::move(result).error());
      merged = std::move(*result);
    }
    original[field] = order_elements(merged, order, live_list, strategy.key);
    return true;
  }

  // strategicpatch's validatePatchWithSetOrderList: the patch's entries must
  // appear in the order list, in the same relative order.
  static Result<void> check_order_covers_patch(const json& patch_list, const json& order,
                                               std::string_view key) {
    size_t next = 0;
    for (const auto& entry : patch_list) {
      if (has_directive(entry)) continue;
      const json* id = identity(entry, key);
      if (id == nullptr) return Unexpected(no_merge_key(entry, key));
      while (next < order.size() && *identity(order[next], key) != *id) ++next;
      if (next == order.size()) {
        return Unexpected(bad_request("the order in patch list " + patch_list.dump() +
                                      " doesn't match $setElementOrder list " + order.dump()));
      }
      ++next;
    }
    return {};
  }

  // "$deleteFromPrimitiveList/<field>": removes the listed values from a
  // list of scalars (finalizers); nothing to do when the list is absent.
  static Result<void> delete_from_primitive_list(json& original, const std::string& key,
                                                 const json& values) {
    const std::string field = key.substr(kDeleteFromPrimitiveListPrefix.size());
    if (field.empty() || !values.is_array()) {
      return Unexpected(
          bad_request("invalid patch format of primitive list: " + key + ": " + values.dump()));
    }
    auto live = original.find(field);
    if (live == original.end() || !live->is_array()) return {};
    json kept = json::array();
    for (auto& value : *live) {
      if (std::find(values.begin(), values.end(), value) == values.end()) {
        kept.push_back(std::move(value));
      }
    }
    *live = std::move(kept);
    return {};
  }

  // A field present both live and in the patch.
  Result<json> merge_value(json original, const json& patch, std::string_view field,
                           std::string_view parent) const {
    if (original.is_object() && patch.is_object()) {
      return merge_map(std::move(original), patch, field);
    }
    if (original.is_array() && patch.is_array()) {
      return merge_list(std::move(original), patch, list_strategy(field, parent, kind_), field);
    }
    return fresh_value(patch, field, parent);
  }

  // A field the live object lacks (or holds with another type) takes the
  // patch's value, merged into nothing so that no directive or null is stored.
  Result<json> fresh_value(const json& patch, std::string_view field,
                           std::string_view parent) const {
    if (patch.is_object()) return merge_map(json::object(), patch, field);
    if (patch.is_array()) {
      return merge_list(json::array(), patch, list_strategy(field, parent, kind_), field);
    }
    return patch;
  }

  Result<json> merge_list(json original, const json& patch, const ListStrategy& strategy,
                          std::string_view field) const {
    if (strategy.merge == ListMerge::Atomic) return atomic_list(patch, field);
    if (original.empty() && patch.empty()) return original;
    bool maps = false;
    bool scalars = false;
    const json& live_list = original;
    for (const json* list : {&live_list, &patch}) {
      for (const auto& element : *list) {
        if (element.is_array()) {
          return Unexpected(bad_request("lists of lists are not supported: " + std::string(field)));
        }
        (element.is_object() ? maps : scalars) = true;
      }
    }
    if (maps && scalars) {
      return Unexpected(bad_request("list element types are not identical in " +
                                    std::string(field) + ": " + original.dump() + " and " +
                                    patch.dump()));
    }
    if (scalars) return union_list(original, patch);
    if (strategy.merge != ListMerge::ByKey) {
      return Unexpected(
          bad_request("cannot merge lists without merge key for " + std::string(field)));
    }
    return keyed_list(original, patch, strategy.key, field);
  }

  // A replaced list; its maps are merged into nothing to drop directives.
  Result<json> atomic_list(const json& patch, std::string_view field) const {
    json result = json::array();
    for (const auto& element : patch) {
      if (!element.is_object()) {
        result.push_back(element);
        continue;
      }
      auto cleaned = merge_map(json::object(), element, field);
      if (!cleaned) return Unexpected(std::move(cleaned).error());
      result.push_back(std::move(*cleaned));
    }
    return result;
  }

  static json union_list(const json& original, const json& patch) {
    json merged = original;
    for (const auto& value : patch) {
      if (std::find(merged.begin(), merged.end(), value) == merged.end()) merged.push_back(value);
    }
    return order_elements(merged, patch, original, {});
  }

  // strategicpatch's mergeSliceWithSpecialElements and
  // mergeSliceWithoutSpecialElements: "$patch: delete" entries remove live
  // elements by key, a "$patch: replace" entry makes the rest of the patch
  // the list, and other entries merge into the live element with their key
  // or are added.
  Result<json> keyed_list(const json& original, const json& patch, std::string_view key,
                          std::string_view field) const {
    const std::string merge_key(key);
    json live = original;
    std::vector<const json*> entries;
    bool replace = false;
    for (const auto& entry : patch) {
      auto directive = entry.find(kPatchDirective);
      if (directive == entry.end()) {
        if (!entry.contains(merge_key)) return Unexpected(no_merge_key(entry, key));
        entries.push_back(&entry);
      } else if (*directive == kDelete) {
        auto doomed = entry.find(merge_key);
        if (doomed == entry.end()) return Unexpected(no_merge_key(entry, key));
        live.erase(std::remove_if(live.begin(), live.end(),
                                  [&](const json& e) {
                                    const json* id = identity(e, key);
                                    return id != nullptr && *id == *doomed;
                                  }),
                   live.end());
      } else if (*directive == kReplace) {
        replace = true;
      } else if (*directive == kMerge) {
        return Unexpected(bad_request("merging lists cannot yet be specified in the patch"));
      } else {
        return Unexpected(unknown_patch_type(*directive, entry));
      }
    }
    if (replace) live = json::array();
    for (const json* entry : entries) {
      const size_t at = replace ? kNotListed : position_in(live, *entry, key);
      auto merged =
          merge_map(at == kNotListed ? json::object() : std::move(live[at]), *entry, field);
      if (!merged) return Unexpected(std::move(merged).error());
      if (at == kNotListed) {
        live.push_back(std::move(*merged));
      } else {
        live[at] = std::move(*merged);
      }
    }
    if (replace) return live;
    return order_elements(live, patch, original, key);
  }

  std::string_view kind_;
};

}  // namespace

Result<json> strategic_merge_patch(const json& target, const json& patch, const std::string& kind) {
  if (!patch.is_object()) {
    return Unexpected(bad_request(std::string("strategic merge patch must be a JSON object, got ") +
                                  patch.type_name()));
  }
  return StrategicMerger(kind).merge_map(target, patch, {});
}

}  // namespace kubesim
