// The op catalogue (cpp/catalogue/ops.json, embedded at build time): the one list of TTNN ops
// that every stage reads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace opcast {

enum class OpKind { eltwise_unary, eltwise_binary, matmul, normalization, reduction, data_movement };

struct OpInfo {
  std::string name;        // ttnn name, e.g. "ttnn.matmul"
  OpKind kind;
  int max_inputs;          // tensor inputs the op takes
  int min_inputs;          // max_inputs minus optional ones
  double cycles_per_tile;  // roofline compute cost per output tile (eltwise, norm, reduction)
  std::string default_math_fidelity;  // matmul only; empty otherwise
};

// All ops, in catalogue order.
const std::vector<OpInfo>& catalogue();
// The op of that name ("ttnn.exp"; a bare "exp" is accepted too), or nullptr.
const OpInfo* find_op(std::string_view name);
// The catalogue JSON text as embedded (Python reads it through the bindings).
std::string_view catalogue_json();
const char* to_string(OpKind kind);

}  // namespace opcast
