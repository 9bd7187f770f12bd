#include "opcast/catalogue.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace opcast {

// Defined in the generated catalogue_data.cpp (CMake embeds cpp/catalogue/ops.json).
extern const char* const kCatalogueJson;

namespace {

OpKind parse_kind(const std::string& s) {
  if (s == "eltwise_unary") return OpKind::eltwise_unary;
  if (s == "eltwise_binary") return OpKind::eltwise_binary;
  if (s == "matmul") return OpKind::matmul;
  if (s == "normalization") return OpKind::normalization;
  if (s == "reduction") return OpKind::reduction;
  if (s == "data_movement") return OpKind::data_movement;
  throw std::logic_error("catalogue: unknown op kind \"" + s + "\"");
}

std::vector<OpInfo> load() {
  const auto root = nlohmann::json::parse(kCatalogueJson);
  std::vector<OpInfo> ops;
  for (const auto& e : root.at("ops")) {
    OpInfo info;
    info.name = e.at("name").get<std::string>();
    info.kind = parse_kind(e.at("kind").get<std::string>());
    info.max_inputs = e.at("inputs").get<int>();
    info.min_inputs = info.max_inputs - e.value("optional_inputs", 0);
    info.cycles_per_tile = e.value("cycles_per_tile", 0.0);
    if (e.contains("attributes")) info.default_math_fidelity = e["attributes"].value("math_fidelity", "");
    ops.push_back(std::move(info));
  }
  return ops;
}

}  // namespace

const std::vector<OpInfo>& catalogue() {
  static const std::vector<OpInfo> ops = load();
  return ops;
}

const OpInfo* find_op(std::string_view name) {
  constexpr std::string_view prefix = "ttnn.";
  const bool bare = name.substr(0, prefix.size()) != prefix;
  for (const auto& op : catalogue()) {
    std::string_view n = op.name;
    if (bare) n.remove_prefix(prefix.size());
    if (n == name) return &op;
  }
  return nullptr;
}

std::string_view catalogue_json() { return kCatalogueJson; }

const char* to_string(OpKind kind) {
  switch (kind) {
    case OpKind::eltwise_unary: return "eltwise_unary";
    case OpKind::eltwise_binary: return "eltwise_binary";
    case OpKind::matmul: return "matmul";
    case OpKind::normalization: return "normalization";
    case OpKind::reduction: return "reduction";
    case OpKind::data_movement: return "data_movement";
  }
  return "?";
}

}  // namespace opcast
