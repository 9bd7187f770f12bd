// Query parsing: ttnn's TensorSpec JSON and opcast's short form, into one Query struct.
// Every rejection names the field (a JSON path) and what was expected.
#include "opcast/query.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace opcast {
namespace {

using json = nlohmann::json;

std::string at(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
std::string at(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::string describe(const json& j) {
  // ASCII-escaped so that truncation never splits a UTF-8 sequence.
  std::string s = j.dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

const json& require(const json& obj, std::string_view key, const std::string& path, const char* expected) {
  auto it = obj.find(key);
  if (it == obj.end()) throw QueryError(at(path, key), std::string("missing; expected ") + expected);
  return *it;
}

const json* optional(const json& obj, std::string_view key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string_view get_string(const json& j, const std::string& path, const char* expected) {
  if (!j.is_string()) throw QueryError(path, std::string("expected ") + expected + ", got " + describe(j));
  return j.get_ref<const std::string&>();
}

std::int64_t get_int(const json& j, const std::string& path, std::int64_t lo, std::int64_t hi) {
  std::int64_t v = 0;
  if (j.is_number_unsigned()) {
    auto u = j.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi))
      throw QueryError(path, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                 "], got " + describe(j));
    v = static_cast<std::int64_t>(u);
  } else if (j.is_number_integer()) {
    v = j.get<std::int64_t>();
  } else {
    throw QueryError(path, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                               "], got " + describe(j));
  }
  if (v < lo || v > hi)
    throw QueryError(path, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                               "], got " + std::to_string(v));
  return v;
}

const json& get_object(const json& j, const std::string& path, const char* expected) {
  if (!j.is_object()) throw QueryError(path, std::string("expected ") + expected + ", got " + describe(j));
  return j;
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

// Enum names as ttnn prints them may carry a scope prefix ("DataType::BFLOAT16").
std::string_view strip_scope(std::string_view s) {
  auto pos = s.rfind("::");
  return pos == std::string_view::npos ? s : s.substr(pos + 2);
}

constexpr std::int64_t kMaxDim = std::int64_t{1} << 31;

void parse_shape(const json& j, const std::string& path, TensorDesc& t) {
  if (!j.is_array()) throw QueryError(path, "expected a list of 1 to 8 positive integers, got " + describe(j));
  if (j.empty() || j.size() > static_cast<std::size_t>(kMaxRank))
    throw QueryError(path, "expected rank 1 to " + std::to_string(kMaxRank) + ", got rank " + std::to_string(j.size()));
  t.rank = static_cast<int>(j.size());
  for (std::size_t i = 0; i < j.size(); ++i) t.dims[i] = get_int(j[i], at(path, i), 1, kMaxDim);
}

// Fills grid and core count of a sharded memory config from whatever the query gave.
void complete_shard_grid(MemoryConfig& m, const std::string& path) {
  if (!m.sharded()) {
    if (m.core_count != 0 || m.grid_x != 0)
      throw QueryError(path, "grid / core_count given for an interleaved memory config; expected them only "
                             "with L1_HEIGHT_SHARDED, L1_WIDTH_SHARDED or L1_BLOCK_SHARDED");
    return;
  }
  if (m.core_count == 0 && m.grid_x == 0)
    throw QueryError(path, "sharded memory config needs \"grid\": [x, y] or \"core_count\"");
  if (m.grid_x == 0) {
    // ttnn fills shard grids row by row over the 8-wide compute grid.
    m.grid_x = std::min(m.core_count, 8);
    m.grid_y = (m.core_count + 7) / 8;
  }
  if (m.core_count == 0) m.core_count = m.grid_x * m.grid_y;
  if (m.core_count > m.grid_x * m.grid_y)
    throw QueryError(path, "core_count " + std::to_string(m.core_count) + " exceeds the grid " +
                               std::to_string(m.grid_x) + "x" + std::to_string(m.grid_y));
}

// ---- short form -------------------------------------------------------------------------------

void parse_short_memory_fields(const json& obj, const std::string& path, MemoryConfig& m) {
  if (const json* g = optional(obj, "grid")) {
    const std::string gp = at(path, "grid");
    if (!g->is_array() || g->size() != 2) throw QueryError(gp, "expected [x, y], got " + describe(*g));
    m.grid_x = static_cast<int>(get_int((*g)[0], at(gp, 0), 1, 8));
    m.grid_y = static_cast<int>(get_int((*g)[1], at(gp, 1), 1, 8));
  }
  if (const json* c = optional(obj, "core_count"))
    m.core_count = static_cast<int>(get_int(*c, at(path, "core_count"), 1, 64));
  complete_shard_grid(m, path);
}

constexpr std::string_view kShortInputKeys[] = {"shape", "dtype", "layout", "memory", "grid", "core_count"};

void reject_unknown_keys(const json& obj, const std::string& path) {
  for (const auto& item : obj.items()) {
    if (std::find(std::begin(kShortInputKeys), std::end(kShortInputKeys), item.key()) == std::end(kShortInputKeys))
      throw QueryError(at(path, item.key()),
                       "unknown key; expected shape, dtype, layout, memory, grid, core_count");
  }
}

TensorDesc parse_short_tensor(const json& obj, const std::string& path) {
  reject_unknown_keys(obj, path);
  TensorDesc t;
  parse_shape(require(obj, "shape", path, "a list of positive integers"), at(path, "shape"), t);
  t.dtype = parse_dtype(get_string(require(obj, "dtype", path, "a dtype name"), at(path, "dtype"), "a dtype name"),
                        at(path, "dtype"));
  t.layout = parse_layout(get_string(require(obj, "layout", path, "TILE or ROW_MAJOR"), at(path, "layout"),
                                     "TILE or ROW_MAJOR"),
                          at(path, "layout"));
  t.memory = parse_memory(get_string(require(obj, "memory", path, "a memory config name"), at(path, "memory"),
                                     "a memory config name"),
                          at(path, "memory"));
  parse_short_memory_fields(obj, path, t.memory);
  return t;
}

// ---- TensorSpec form (ttnn / tt-mlir serialization) --------------------------------------------

DType dtype_from_enum(const json& j, const std::string& path) {
  if (j.is_string()) return parse_dtype(strip_scope(j.get_ref<const std::string&>()), path);
  // tt-metal's DataType enum values.
  switch (get_int(j, path, 0, 7)) {
    case 0: return DType::bfloat16;
    case 1: return DType::float32;
    case 2: return DType::uint32;
    case 3: return DType::bfloat8_b;
    case 4: return DType::bfloat4_b;
    case 6: return DType::uint16;
    case 7: return DType::int32;
    default: throw QueryError(path, "DataType 5 (UINT8) is not supported; expected 0-4, 6 or 7");
  }
}

BufferType buffer_from_enum(const json& j, const std::string& path) {
  if (j.is_string()) {
    auto s = upper(strip_scope(j.get_ref<const std::string&>()));
    if (s == "DRAM") return BufferType::dram;
    if (s == "L1") return BufferType::l1;
    throw QueryError(path, "expected buffer type DRAM or L1, got \"" + s + "\"");
  }
  switch (get_int(j, path, 0, 4)) {
    case 0: return BufferType::dram;
    case 1: return BufferType::l1;
    default: throw QueryError(path, "expected buffer type 0 (DRAM) or 1 (L1), got " + describe(j));
  }
}

MemoryLayout layout_from_enum(const json& j, const std::string& path) {
  if (j.is_string()) {
    auto s = upper(strip_scope(j.get_ref<const std::string&>()));
    if (s == "INTERLEAVED") return MemoryLayout::interleaved;
    if (s == "HEIGHT_SHARDED") return MemoryLayout::height_sharded;
    if (s == "WIDTH_SHARDED") return MemoryLayout::width_sharded;
    if (s == "BLOCK_SHARDED") return MemoryLayout::block_sharded;
    throw QueryError(path, "expected INTERLEAVED, HEIGHT_SHARDED, WIDTH_SHARDED or BLOCK_SHARDED, got \"" + s + "\"");
  }
  switch (get_int(j, path, 0, 4)) {
    case 0: return MemoryLayout::interleaved;
    case 2: return MemoryLayout::height_sharded;
    case 3: return MemoryLayout::width_sharded;
    case 4: return MemoryLayout::block_sharded;
    default: throw QueryError(path, "expected memory layout 0, 2, 3 or 4, got " + describe(j));
  }
}

// shard_spec.grid is a CoreRangeSet: a list of {start: {x, y}, end: {x, y}} (possibly wrapped in
// {"ranges": [...]}).
void parse_core_range_set(const json& j, const std::string& path, MemoryConfig& m) {
  const json* ranges = &j;
  if (j.is_object()) ranges = &require(j, "ranges", path, "a list of core ranges");
  if (!ranges->is_array() || ranges->empty()) throw QueryError(path, "expected a non-empty list of core ranges");
  int max_x = -1, max_y = -1, cores = 0;
  for (std::size_t i = 0; i < ranges->size(); ++i) {
    const std::string rp = at(path, i);
    const json& r = get_object((*ranges)[i], rp, "{start: {x, y}, end: {x, y}}");
    const json& s = get_object(require(r, "start", rp, "{x, y}"), at(rp, "start"), "{x, y}");
    const json& e = get_object(require(r, "end", rp, "{x, y}"), at(rp, "end"), "{x, y}");
    auto sx = get_int(require(s, "x", at(rp, "start"), "int"), at(at(rp, "start"), "x"), 0, 7);
    auto sy = get_int(require(s, "y", at(rp, "start"), "int"), at(at(rp, "start"), "y"), 0, 7);
    auto ex = get_int(require(e, "x", at(rp, "end"), "int"), at(at(rp, "end"), "x"), sx, 7);
    auto ey = get_int(require(e, "y", at(rp, "end"), "int"), at(at(rp, "end"), "y"), sy, 7);
    cores += static_cast<int>((ex - sx + 1) * (ey - sy + 1));
    max_x = std::max<int>(max_x, static_cast<int>(ex));
    max_y = std::max<int>(max_y, static_cast<int>(ey));
  }
  m.grid_x = max_x + 1;
  m.grid_y = max_y + 1;
  m.core_count = std::min(cores, 64);
}

MemoryConfig parse_memory_config_object(const json& mc, const std::string& path) {
  MemoryConfig m;
  m.buffer = buffer_from_enum(require(mc, "buffer_type", path, "a buffer type"), at(path, "buffer_type"));
  m.layout = layout_from_enum(require(mc, "memory_layout", path, "a memory layout"), at(path, "memory_layout"));
  if (m.sharded() && m.buffer != BufferType::l1)
    throw QueryError(at(path, "buffer_type"), "sharded tensors must live in L1");
  if (m.sharded()) {
    const json* spec = optional(mc, "shard_spec");
    if (spec && spec->is_object() && optional(*spec, "value")) spec = optional(*spec, "value");  // std::optional wrapper
    if (!spec || !spec->is_object())
      throw QueryError(at(path, "shard_spec"), "missing; a sharded memory config needs a shard_spec with a grid");
    parse_core_range_set(require(*spec, "grid", at(path, "shard_spec"), "a core range set"),
                         at(at(path, "shard_spec"), "grid"), m);
  }
  return m;
}

TensorDesc parse_tensor_spec(const json& obj, const std::string& input_path) {
  const json* spec_ptr = optional(obj, "tensor_spec");
  const std::string path = spec_ptr ? at(input_path, "tensor_spec") : input_path;
  const json& spec = get_object(spec_ptr ? *spec_ptr : obj, path, "a TensorSpec object");
  TensorDesc t;
  parse_shape(require(spec, "logical_shape", path, "a list of positive integers"), at(path, "logical_shape"), t);
  const std::string lp = at(path, "tensor_layout");
  const json& tl = get_object(require(spec, "tensor_layout", path, "a TensorLayout object"), lp, "a TensorLayout object");
  t.dtype = dtype_from_enum(require(tl, "dtype", lp, "a DataType"), at(lp, "dtype"));
  const std::string mp = at(lp, "memory_config");
  t.memory = parse_memory_config_object(
      get_object(require(tl, "memory_config", lp, "a MemoryConfig object"), mp, "a MemoryConfig object"), mp);
  // page_config is a variant: index 0 = RowMajorPageConfig, 1 = TilePageConfig.
  t.layout = Layout::tile;
  if (const json* pc = optional(tl, "page_config")) {
    const json* cfg = optional(*pc, "config");
    const json* idx = cfg ? optional(*cfg, "index") : nullptr;
    if (idx) t.layout = get_int(*idx, at(at(at(lp, "page_config"), "config"), "index"), 0, 1) == 0 ? Layout::row_major
                                                                                                   : Layout::tile;
  }
  return t;
}

bool is_tensor_spec(const json& obj) {
  return obj.contains("tensor_spec") || obj.contains("logical_shape");
}

TensorDesc parse_tensor(const json& j, const std::string& path) {
  const json& obj = get_object(j, path, "a tensor (short form {shape, dtype, layout, memory} or a TensorSpec)");
  return is_tensor_spec(obj) ? parse_tensor_spec(obj, path) : parse_short_tensor(obj, path);
}

// ---- output shape per op kind ------------------------------------------------------------------

int normalize_dim(std::int64_t d, int rank, const std::string& path) {
  if (d < -rank || d >= rank)
    throw QueryError(path, "expected a dim in [" + std::to_string(-rank) + ", " + std::to_string(rank - 1) +
                               "], got " + std::to_string(d));
  return static_cast<int>(d < 0 ? d + rank : d);
}

std::int64_t int_attr(const json* attrs, std::string_view key, std::int64_t fallback) {
  if (!attrs) return fallback;
  const json* v = optional(*attrs, key);
  return v ? get_int(*v, at("attributes", key), -kMaxRank, kMaxDim) : fallback;
}

void set_shape(TensorDesc& t, const std::vector<std::int64_t>& shape) {
  t.rank = static_cast<int>(shape.size());
  std::copy(shape.begin(), shape.end(), t.dims.begin());
}

// The output shape the op produces; QueryError where inputs are incompatible.
std::vector<std::int64_t> derive_output_shape(const Query& q, const json* attrs) {
  const TensorDesc& a = q.inputs[0];
  std::vector<std::int64_t> shape = a.shape();
  switch (q.op->kind) {
    case OpKind::eltwise_unary:
    case OpKind::normalization:
      return shape;
    case OpKind::eltwise_binary: {
      if (q.inputs.size() == 1) return shape;  // tensor op scalar
      const TensorDesc& b = q.inputs[1];
      const int rank = std::max(a.rank, b.rank);
      std::vector<std::int64_t> out(static_cast<std::size_t>(rank));
      for (int i = 0; i < rank; ++i) {
        const std::int64_t da = i < rank - a.rank ? 1 : a.dims[static_cast<std::size_t>(i - (rank - a.rank))];
        const std::int64_t db = i < rank - b.rank ? 1 : b.dims[static_cast<std::size_t>(i - (rank - b.rank))];
        if (da != db && da != 1 && db != 1)
          throw QueryError("inputs[1].shape", "not broadcastable with inputs[0].shape: dim " + std::to_string(i) +
                                                  " is " + std::to_string(db) + " vs " + std::to_string(da));
        out[static_cast<std::size_t>(i)] = std::max(da, db);
      }
      return out;
    }
    case OpKind::matmul: {
      const TensorDesc& b = q.inputs[1];
      if (a.rank < 2) throw QueryError("inputs[0].shape", "matmul needs rank >= 2, got rank " + std::to_string(a.rank));
      if (b.rank < 2) throw QueryError("inputs[1].shape", "matmul needs rank >= 2, got rank " + std::to_string(b.rank));
      if (a.dim(-1) != b.dim(-2))
        throw QueryError("inputs[1].shape", "inner dims differ: inputs[0] has K=" + std::to_string(a.dim(-1)) +
                                                ", inputs[1] has K=" + std::to_string(b.dim(-2)));
      shape.back() = b.dim(-1);
      return shape;
    }
    case OpKind::reduction: {
      const int d = normalize_dim(int_attr(attrs, "dim", -1), a.rank, "attributes.dim");
      shape[static_cast<std::size_t>(d)] = 1;
      return shape;
    }
    case OpKind::data_movement:
      break;
  }
  const std::string& name = q.op->name;
  if (name == "ttnn.transpose") {
    const int d0 = normalize_dim(int_attr(attrs, "dim0", -2), a.rank, "attributes.dim0");
    const int d1 = normalize_dim(int_attr(attrs, "dim1", -1), a.rank, "attributes.dim1");
    std::swap(shape[static_cast<std::size_t>(d0)], shape[static_cast<std::size_t>(d1)]);
    return shape;
  }
  if (name == "ttnn.concat") {
    const int d = normalize_dim(int_attr(attrs, "dim", -1), a.rank, "attributes.dim");
    for (std::size_t i = 1; i < q.inputs.size(); ++i) {
      if (q.inputs[i].rank != a.rank)
        throw QueryError(at("inputs", i) + ".shape", "concat inputs must have equal rank");
      shape[static_cast<std::size_t>(d)] += q.inputs[i].dims[static_cast<std::size_t>(d)];
    }
    return shape;
  }
  if (name == "ttnn.permute" || name == "ttnn.reshape" || name == "ttnn.slice") {
    const json* s = attrs ? optional(*attrs, "shape") : nullptr;
    if (!s)
      throw QueryError("attributes.shape", "missing; " + name + " needs its result shape as \"attributes\": {\"shape\": [...]} "
                                           "or \"output\": {\"shape\": [...]}");
    TensorDesc t;
    parse_shape(*s, "attributes.shape", t);
    if (name == "ttnn.reshape" && t.volume() != a.volume())
      throw QueryError("attributes.shape", "reshape must keep the element count " + std::to_string(a.volume()) +
                                               ", got " + std::to_string(t.volume()));
    return t.shape();
  }
  return shape;  // layout and memory conversions keep the shape
}

Query parse_query_object(const json& root) {
  const json& obj = get_object(root, "", "a JSON object {\"op\", \"inputs\", ...}");
  Query q;
  const std::string_view op_name = get_string(require(obj, "op", "", "an op name such as \"ttnn.matmul\""), "op",
                                              "an op name such as \"ttnn.matmul\"");
  q.op = find_op(op_name);
  if (!q.op) {
    std::string known;
    for (const auto& info : catalogue()) known += (known.empty() ? "" : ", ") + info.name;
    throw QueryError("op", "unknown op \"" + std::string(op_name) + "\"; expected one of: " + known);
  }
  const json& inputs = require(obj, "inputs", "", "a list of input tensors");
  if (!inputs.is_array()) throw QueryError("inputs", "expected a list of input tensors, got " + describe(inputs));
  const auto n = static_cast<int>(inputs.size());
  if (n < q.op->min_inputs || n > q.op->max_inputs) {
    const std::string expected = q.op->min_inputs == q.op->max_inputs
                                     ? std::to_string(q.op->min_inputs)
                                     : std::to_string(q.op->min_inputs) + " to " + std::to_string(q.op->max_inputs);
    throw QueryError("inputs", q.op->name + " takes " + expected + " input tensors, got " + std::to_string(n));
  }
  q.inputs.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) q.inputs.push_back(parse_tensor(inputs[i], at("inputs", i)));

  const json* attrs = optional(obj, "attributes");
  if (attrs) get_object(*attrs, "attributes", "an object");
  if (q.op->kind == OpKind::matmul) {
    const json* mf = attrs ? optional(*attrs, "math_fidelity") : nullptr;
    q.math_fidelity = mf ? parse_math_fidelity(get_string(*mf, "attributes.math_fidelity", "a math fidelity name"),
                                               "attributes.math_fidelity")
                         : parse_math_fidelity(q.op->default_math_fidelity, "catalogue");
  }

  // Output: derived from the op, then overridden by whatever the query states.
  q.output = q.inputs[0];
  const json* out = optional(obj, "output");
  if (out) {
    const json& o = get_object(*out, "output", "an object {shape?, dtype?, layout?, memory?, grid?, core_count?}");
    if (is_tensor_spec(o)) {
      q.output = parse_tensor_spec(o, "output");
      return q;
    }
    if (o.contains("buffer_type")) {  // a bare ttnn MemoryConfig
      q.output.memory = parse_memory_config_object(o, "output");
    } else {
      reject_unknown_keys(o, "output");
      if (const json* s = optional(o, "shape")) parse_shape(*s, "output.shape", q.output);
      if (const json* d = optional(o, "dtype")) q.output.dtype = parse_dtype(get_string(*d, "output.dtype", "a dtype name"), "output.dtype");
      if (const json* l = optional(o, "layout")) q.output.layout = parse_layout(get_string(*l, "output.layout", "TILE or ROW_MAJOR"), "output.layout");
      if (const json* m = optional(o, "memory")) {
        q.output.memory = parse_memory(get_string(*m, "output.memory", "a memory config name"), "output.memory");
        parse_short_memory_fields(o, "output", q.output.memory);
      } else if (o.contains("grid") || o.contains("core_count")) {
        throw QueryError("output", "grid / core_count given without \"memory\"");
      }
      if (optional(o, "shape")) return q;
    }
  }
  set_shape(q.output, derive_output_shape(q, attrs));
  if (q.op->name == "ttnn.to_layout" && attrs && optional(*attrs, "layout"))
    q.output.layout = parse_layout(get_string((*attrs)["layout"], "attributes.layout", "TILE or ROW_MAJOR"), "attributes.layout");
  return q;
}

}  // namespace

std::int64_t TensorDesc::volume() const {
  std::int64_t v = 1;
  for (int i = 0; i < rank; ++i) v *= dims[static_cast<std::size_t>(i)];
  return v;
}

const char* to_string(DType d) {
  switch (d) {
    case DType::bfloat16: return "bfloat16";
    case DType::bfloat8_b: return "bfloat8_b";
    case DType::bfloat4_b: return "bfloat4_b";
    case DType::float32: return "float32";
    case DType::uint16: return "uint16";
    case DType::uint32: return "uint32";
    case DType::int32: return "int32";
  }
  return "?";
}
const char* to_string(Layout l) { return l == Layout::tile ? "TILE" : "ROW_MAJOR"; }
const char* to_string(MathFidelity f) {
  switch (f) {
    case MathFidelity::LoFi: return "LoFi";
    case MathFidelity::HiFi2: return "HiFi2";
    case MathFidelity::HiFi3: return "HiFi3";
    case MathFidelity::HiFi4: return "HiFi4";
  }
  return "?";
}

std::string memory_name(const MemoryConfig& m) {
  std::string s = m.buffer == BufferType::dram ? "DRAM_" : "L1_";
  switch (m.layout) {
    case MemoryLayout::interleaved: return s + "INTERLEAVED";
    case MemoryLayout::height_sharded: return s + "HEIGHT_SHARDED";
    case MemoryLayout::width_sharded: return s + "WIDTH_SHARDED";
    case MemoryLayout::block_sharded: return s + "BLOCK_SHARDED";
  }
  return s;
}

DType parse_dtype(std::string_view name, const std::string& field) {
  const std::string s = upper(name);
  if (s == "BFLOAT16") return DType::bfloat16;
  if (s == "BFLOAT8_B") return DType::bfloat8_b;
  if (s == "BFLOAT4_B") return DType::bfloat4_b;
  if (s == "FLOAT32") return DType::float32;
  if (s == "UINT16") return DType::uint16;
  if (s == "UINT32") return DType::uint32;
  if (s == "INT32") return DType::int32;
  throw QueryError(field, "unknown dtype \"" + std::string(name) +
                              "\"; expected bfloat16, bfloat8_b, bfloat4_b, float32, uint16, uint32 or int32");
}

Layout parse_layout(std::string_view name, const std::string& field) {
  const std::string s = upper(strip_scope(name));
  if (s == "TILE") return Layout::tile;
  if (s == "ROW_MAJOR") return Layout::row_major;
  throw QueryError(field, "unknown layout \"" + std::string(name) + "\"; expected TILE or ROW_MAJOR");
}

MemoryConfig parse_memory(std::string_view name, const std::string& field) {
  const std::string s = upper(name);
  MemoryConfig m;
  if (s == "DRAM_INTERLEAVED") return m;
  m.buffer = BufferType::l1;
  if (s == "L1_INTERLEAVED") return m;
  if (s == "L1_HEIGHT_SHARDED") { m.layout = MemoryLayout::height_sharded; return m; }
  if (s == "L1_WIDTH_SHARDED") { m.layout = MemoryLayout::width_sharded; return m; }
  if (s == "L1_BLOCK_SHARDED") { m.layout = MemoryLayout::block_sharded; return m; }
  throw QueryError(field, "unknown memory config \"" + std::string(name) +
                              "\"; expected DRAM_INTERLEAVED, L1_INTERLEAVED, L1_HEIGHT_SHARDED, "
                              "L1_WIDTH_SHARDED or L1_BLOCK_SHARDED");
}

MathFidelity parse_math_fidelity(std::string_view name, const std::string& field) {
  const std::string s = upper(strip_scope(name));
  if (s == "LOFI") return MathFidelity::LoFi;
  if (s == "HIFI2") return MathFidelity::HiFi2;
  if (s == "HIFI3") return MathFidelity::HiFi3;
  if (s == "HIFI4") return MathFidelity::HiFi4;
  throw QueryError(field, "unknown math fidelity \"" + std::string(name) + "\"; expected LoFi, HiFi2, HiFi3 or HiFi4");
}

double tile_bytes(DType d) {
  switch (d) {
    case DType::bfloat16: case DType::uint16: return 2048;
    case DType::bfloat8_b: return 1088;  // 1024 mantissas + 64 shared exponents
    case DType::bfloat4_b: return 576;
    case DType::float32: case DType::uint32: case DType::int32: return 4096;
  }
  return 2048;
}

double element_bytes(DType d) {
  switch (d) {
    case DType::bfloat16: case DType::uint16: return 2;
    case DType::bfloat8_b: return 1088.0 / 1024.0;
    case DType::bfloat4_b: return 576.0 / 1024.0;
    case DType::float32: case DType::uint32: case DType::int32: return 4;
  }
  return 2;
}

Query parse_query(std::string_view text) {
  json root = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    // Re-parse with exceptions on to get the position of the syntax error.
    try {
      root = json::parse(text.begin(), text.end());
    } catch (const json::parse_error& e) {
      throw QueryError("", std::string("malformed JSON: ") + e.what());
    }
  }
  return parse_query_object(root);
}

Query parse_query_json(const nlohmann::json& root) { return parse_query_object(root); }

std::string to_short_json(const Query& q) {
  auto tensor = [](const TensorDesc& t) {
    json j = {{"shape", t.shape()}, {"dtype", to_string(t.dtype)}, {"layout", to_string(t.layout)},
              {"memory", memory_name(t.memory)}};
    if (t.memory.sharded()) {
      j["grid"] = {t.memory.grid_x, t.memory.grid_y};
      j["core_count"] = t.memory.core_count;
    }
    return j;
  };
  json j;
  j["op"] = q.op->name;
  j["inputs"] = json::array();
  for (const auto& t : q.inputs) j["inputs"].push_back(tensor(t));
  j["output"] = tensor(q.output);
  j["attributes"] = json::object();
  if (q.op->kind == OpKind::matmul) j["attributes"]["math_fidelity"] = to_string(q.math_fidelity);
  return j.dump();
}

}  // namespace opcast
