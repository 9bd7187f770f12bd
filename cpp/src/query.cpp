// Query parsing: ttnn's TensorSpec JSON and opcast's short form, into one Query struct.
// Every rejection names the field (a JSON path) and what was expected.
//
// One query builder walks a rapidjson DOM; three ways lead into it:
//   - JSON text (the hot path): rapidjson parses a copy of it in place, into a pool on the stack,
//     so a query of up to a few KB costs no heap allocation besides Query::inputs. Text outside
//     the subset where rapidjson and nlohmann agree (escapes, non-ASCII, fractions, exponents,
//     deep nesting) and text rapidjson refuses go through nlohmann's SAX parser instead, so what
//     is accepted, how it reads and every malformed-JSON message stay nlohmann's;
//   - an nlohmann::json value (parse_query_json), replayed into the same DOM;
//   - a DOM built directly (parse_query_value; the Python bindings build dicts into it).
// Field paths are built only when a field is rejected (Path below), never on the way down.
#include "opcast/query.hpp"

#include "opcast/legality.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

namespace opcast {
namespace {

using json = nlohmann::json;
using Value = rapidjson::Value;
using Pool = rapidjson::MemoryPoolAllocator<>;
using Doc = rapidjson::GenericDocument<rapidjson::UTF8<>, Pool, Pool>;

// ---- field paths, materialised only for an error -----------------------------------------------

// A JSON path as a chain of stack frames: "inputs[1].shape[2]" is root -> "inputs" -> 1 -> "shape"
// -> 2. A parentless Path is a literal ("" for the whole query, or "attributes.dim").
class Path {
 public:
  Path(const char* literal) : key_(literal) {}  // NOLINT: implicit from literals on purpose
  explicit Path(std::string_view literal) : key_(literal) {}
  Path(const Path& parent, std::string_view key) : parent_(&parent), key_(key) {}
  Path(const Path& parent, std::size_t index) : parent_(&parent), index_(index) {}
  Path(const Path&) = delete;  // children point at their parent: never copy one
  Path& operator=(const Path&) = delete;

  std::string str() const {
    if (!parent_) return std::string(key_);
    std::string s = parent_->str();
    if (index_ != kNoIndex) return s + "[" + std::to_string(index_) + "]";
    return s.empty() ? std::string(key_) : s + "." + std::string(key_);
  }

 private:
  static constexpr std::size_t kNoIndex = ~std::size_t{0};
  const Path* parent_ = nullptr;
  std::string_view key_;
  std::size_t index_ = kNoIndex;
};

[[noreturn, gnu::cold, gnu::noinline]] void fail(const Path& path, const std::string& message) {
  throw QueryError(path.str(), message);
}

// ---- describing a value in an error: nlohmann's compact dump, cut at 40 characters --------------

constexpr std::size_t kDescribeLimit = 40;

void dump_string(std::string_view s, std::string& out) {
  // ASCII-escaped so that truncation never splits a UTF-8 sequence.
  out += json(std::string(s)).dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
}

// Appends the dump of `j` as nlohmann would print it (objects in key order, a repeated key's last
// value), stopping once `out` is past the limit: only a prefix is ever shown.
void dump_value(const Value& j, std::string& out) {
  if (out.size() > kDescribeLimit) return;
  switch (j.GetType()) {
    case rapidjson::kNullType: out += "null"; return;
    case rapidjson::kFalseType: out += "false"; return;
    case rapidjson::kTrueType: out += "true"; return;
    case rapidjson::kStringType: dump_string({j.GetString(), j.GetStringLength()}, out); return;
    case rapidjson::kNumberType:
      if (j.IsUint64()) out += std::to_string(j.GetUint64());
      else if (j.IsInt64()) out += std::to_string(j.GetInt64());
      else out += json(j.GetDouble()).dump();
      return;
    case rapidjson::kArrayType:
      out += '[';
      for (rapidjson::SizeType i = 0; i < j.Size() && out.size() <= kDescribeLimit; ++i) {
        if (i) out += ',';
        dump_value(j[i], out);
      }
      out += ']';
      return;
    case rapidjson::kObjectType: {
      std::vector<std::pair<std::string_view, const Value*>> members;
      for (auto it = j.MemberBegin(); it != j.MemberEnd(); ++it)
        members.emplace_back(std::string_view(it->name.GetString(), it->name.GetStringLength()), &it->value);
      std::stable_sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out += '{';
      bool first = true;
      for (std::size_t i = 0; i < members.size() && out.size() <= kDescribeLimit; ++i) {
        if (i + 1 < members.size() && members[i + 1].first == members[i].first) continue;  // later one wins
        if (!first) out += ',';
        first = false;
        dump_string(members[i].first, out);
        out += ':';
        dump_value(*members[i].second, out);
      }
      out += '}';
      return;
    }
  }
}

std::string describe(const Value& j) {
  std::string s;
  dump_value(j, s);
  if (s.size() > kDescribeLimit) s = s.substr(0, 37) + "...";
  return s;
}

// ---- typed access -------------------------------------------------------------------------------

std::string_view key_of(const Value::Member& m) { return {m.name.GetString(), m.name.GetStringLength()}; }

#define OPCAST_INLINE __attribute__((always_inline)) inline

// The member `key` of an object (the last one where a key repeats, as nlohmann keeps it), or
// nullptr; nullptr for a non-object too. Inlined, so that a literal key compares in registers.
OPCAST_INLINE const Value* find(const Value& obj, std::string_view key) {
  if (!obj.IsObject()) return nullptr;
  for (auto it = obj.MemberEnd(); it != obj.MemberBegin();) {
    --it;
    if (it->name.GetStringLength() == key.size() && std::memcmp(it->name.GetString(), key.data(), key.size()) == 0)
      return &it->value;
  }
  return nullptr;
}

OPCAST_INLINE bool has(const Value& obj, std::string_view key) { return find(obj, key) != nullptr; }

[[noreturn, gnu::cold, gnu::noinline]] void fail_missing(std::string_view key, const Path& path, const char* expected) {
  const Path field(path, key);
  fail(field, std::string("missing; expected ") + expected);
}

OPCAST_INLINE const Value& require(const Value& obj, std::string_view key, const Path& path, const char* expected) {
  const Value* v = find(obj, key);
  if (!v) fail_missing(key, path, expected);
  return *v;
}

// A member that is absent or null is not given.
OPCAST_INLINE const Value* optional(const Value& obj, std::string_view key) {
  const Value* v = find(obj, key);
  return v == nullptr || v->IsNull() ? nullptr : v;
}

std::string_view get_string(const Value& j, const Path& path, const char* expected) {
  if (!j.IsString()) fail(path, std::string("expected ") + expected + ", got " + describe(j));
  return {j.GetString(), j.GetStringLength()};
}

[[noreturn, gnu::cold, gnu::noinline]] void fail_int(const Path& path, std::int64_t lo, std::int64_t hi,
                                                      const std::string& got) {
  fail(path, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + got);
}

std::int64_t get_int(const Value& j, const Path& path, std::int64_t lo, std::int64_t hi) {
  std::int64_t v = 0;
  if (j.IsUint64()) {
    const std::uint64_t u = j.GetUint64();
    if (u > static_cast<std::uint64_t>(hi)) fail_int(path, lo, hi, describe(j));
    v = static_cast<std::int64_t>(u);
  } else if (j.IsInt64()) {
    v = j.GetInt64();
  } else {
    fail_int(path, lo, hi, describe(j));
  }
  if (v < lo || v > hi) fail_int(path, lo, hi, std::to_string(v));
  return v;
}

const Value& get_object(const Value& j, const Path& path, const char* expected) {
  if (!j.IsObject()) fail(path, std::string("expected ") + expected + ", got " + describe(j));
  return j;
}

// Upper-cased as the messages show a name.
std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

// a equals b ignoring ASCII case, without building a copy.
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto fold = [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - ('a' - 'A')) : c; };
    if (fold(a[i]) != fold(b[i])) return false;
  }
  return true;
}

// Enum names as ttnn prints them may carry a scope prefix ("DataType::BFLOAT16", "DataType.BFLOAT16").
std::string_view strip_scope(std::string_view s) {
  const auto colons = s.rfind("::");
  if (colons != std::string_view::npos) return s.substr(colons + 2);
  const auto dot = s.rfind('.');
  return dot == std::string_view::npos ? s : s.substr(dot + 1);
}

// The index of `name` in `names` (any case, scope prefix stripped), or -1. Names as the short form
// spells them take the first loop: a query names a handful of words and this is its hot path.
template <std::size_t N>
int index_of(std::string_view name, const std::array<const char*, N>& names) {
  for (std::size_t i = 0; i < N; ++i)
    if (name == names[i]) return static_cast<int>(i);
  const std::string_view s = strip_scope(name);
  for (std::size_t i = 0; i < N; ++i)
    if (iequals(s, names[i])) return static_cast<int>(i);
  return -1;
}

// "a, b, c or d", for messages.
template <std::size_t N>
std::string one_of(const std::array<const char*, N>& names) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) out += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + names[i];
  return out;
}

// ---- names of the short form ----------------------------------------------------------------

DType dtype_named(std::string_view name, const Path& field) {
  int i = index_of(name, kDTypeNames);
  // ttnn's block-float types are often written without their suffix (TORP's columns, profiler reports).
  if (i < 0 && iequals(strip_scope(name), "BFLOAT8")) i = static_cast<int>(DType::bfloat8_b);
  if (i < 0 && iequals(strip_scope(name), "BFLOAT4")) i = static_cast<int>(DType::bfloat4_b);
  if (i < 0) fail(field, "unknown dtype \"" + std::string(name) + "\"; expected " + one_of(kDTypeNames));
  return static_cast<DType>(i);
}

Layout layout_named(std::string_view name, const Path& field) {
  const int i = index_of(name, kLayoutNames);
  if (i < 0) fail(field, "unknown layout \"" + std::string(name) + "\"; expected " + one_of(kLayoutNames));
  return static_cast<Layout>(i);
}

// The placements of kMemoryNames, in its order.
constexpr std::array<MemoryConfig, kMemoryNames.size()> kMemoryConfigs = {
    MemoryConfig{BufferType::dram, MemoryLayout::interleaved},    MemoryConfig{BufferType::l1, MemoryLayout::interleaved},
    MemoryConfig{BufferType::l1, MemoryLayout::height_sharded},   MemoryConfig{BufferType::l1, MemoryLayout::width_sharded},
    MemoryConfig{BufferType::l1, MemoryLayout::block_sharded},    MemoryConfig{BufferType::dram, MemoryLayout::height_sharded},
    MemoryConfig{BufferType::dram, MemoryLayout::width_sharded},  MemoryConfig{BufferType::dram, MemoryLayout::block_sharded}};

MemoryConfig memory_named(std::string_view name, const Path& field) {
  const int i = index_of(name, kMemoryNames);
  if (i < 0) fail(field, "unknown memory config \"" + std::string(name) + "\"; expected " + one_of(kMemoryNames));
  return kMemoryConfigs[static_cast<std::size_t>(i)];
}

MathFidelity math_fidelity_named(std::string_view name, const Path& field) {
  const int i = index_of(name, kMathFidelityNames);
  if (i < 0)
    fail(field, "unknown math fidelity \"" + std::string(name) + "\"; expected " + one_of(kMathFidelityNames));
  return static_cast<MathFidelity>(i);
}

constexpr std::int64_t kMaxDim = std::int64_t{1} << 31;

// The most elements one tensor may hold, counted with its last two dims padded to whole tiles.
// Wormhole's 12 GiB of DRAM hold about 2^33 bfloat16 elements; 2^48 leaves room far beyond any
// device while every count derived from it stays exact: bytes (at most 4 per element) below 2^50,
// tiles below 2^38, a matmul's 2*M*K*N below 2^80 in double, and no product of two dims or of a
// volume and a dim overflows int64 where the library multiplies them.
constexpr std::int64_t kMaxElements = std::int64_t{1} << 48;

// The element count of dims[0..rank) with the last two padded to 32, or -1 when it exceeds
// kMaxElements (checked at every step, so nothing overflows on the way).
std::int64_t padded_elements(const std::array<std::int64_t, kMaxRank>& dims, int rank) {
  std::int64_t v = 1;
  for (int i = 0; i < rank; ++i) {
    std::int64_t d = dims[static_cast<std::size_t>(i)];
    if (i >= rank - 2) d = (d + 31) / 32 * 32;
    if (__builtin_mul_overflow(v, d, &v) || v > kMaxElements) return -1;
  }
  return v;
}

void check_elements(const std::array<std::int64_t, kMaxRank>& dims, int rank, const Path& path,
                    const char* what = "shape") {
  if (padded_elements(dims, rank) >= 0) return;
  std::string shape;
  for (int i = 0; i < rank; ++i) shape += (i ? "," : "") + std::to_string(dims[static_cast<std::size_t>(i)]);
  fail(path, std::string(what) + " [" + shape + "] holds more than 2^48 (281474976710656) elements with its last two dims "
             "padded to tiles; expected a tensor a device can hold");
}

struct Shape {
  std::array<std::int64_t, kMaxRank> dims{};
  int rank = 0;
};

void parse_shape(const Value& j, const Path& path, std::array<std::int64_t, kMaxRank>& dims, int& rank) {
  if (!j.IsArray()) fail(path, "expected a list of 1 to 8 positive integers, got " + describe(j));
  const rapidjson::SizeType n = j.Size();
  if (n == 0 || n > static_cast<rapidjson::SizeType>(kMaxRank))
    fail(path, "expected rank 1 to " + std::to_string(kMaxRank) + ", got rank " + std::to_string(n));
  rank = static_cast<int>(n);
  for (rapidjson::SizeType i = 0; i < n; ++i) {
    const Path element(path, i);
    dims[i] = get_int(j[i], element, 1, kMaxDim);
  }
  check_elements(dims, rank, path);
}

void parse_shape(const Value& j, const Path& path, TensorDesc& t) { parse_shape(j, path, t.dims, t.rank); }

// A TensorSpec's logical_shape, where TORP pads a shape with 0 to rank 4 ([32, 32, 0, 0] is [32, 32]):
// trailing zeros are padding, any other zero is an error.
void parse_logical_shape(const Value& j, const Path& path, TensorDesc& t) {
  if (!j.IsArray()) fail(path, "expected a list of 1 to 8 positive integers, got " + describe(j));
  rapidjson::SizeType n = j.Size();
  while (n > 1 && ((j[n - 1].IsUint64() && j[n - 1].GetUint64() == 0) || (j[n - 1].IsInt64() && j[n - 1].GetInt64() == 0)))
    --n;
  if (n == j.Size()) return parse_shape(j, path, t);
  if (n > static_cast<rapidjson::SizeType>(kMaxRank))
    fail(path, "expected rank 1 to " + std::to_string(kMaxRank) + ", got rank " + std::to_string(n));
  t.rank = static_cast<int>(n);
  for (rapidjson::SizeType i = 0; i < n; ++i) {
    const Path element(path, i);
    t.dims[i] = get_int(j[i], element, 1, kMaxDim);
  }
  check_elements(t.dims, t.rank, path);
}

// Where shards can go: L1 shards on the 8x8 Tensix grid, DRAM shards on Wormhole's 12 DRAM banks
// (ttnn names them as a 12x1 grid of DRAM cores).
struct ShardGridBound {
  int x, y;
};
ShardGridBound shard_grid_bound(BufferType b) { return b == BufferType::l1 ? ShardGridBound{8, 8} : ShardGridBound{12, 1}; }

// Fills grid and core count of a sharded memory config from whatever the query gave.
void complete_shard_grid(MemoryConfig& m, const Path& path) {
  if (!m.sharded()) {
    if (m.core_count != 0 || m.grid_x != 0)
      fail(path, "grid / core_count given for an interleaved memory config; expected them only with a *_SHARDED one");
    return;
  }
  if (m.core_count == 0 && m.grid_x == 0) fail(path, "sharded memory config needs \"grid\": [x, y] or \"core_count\"");
  if (m.grid_x == 0) {
    // ttnn fills shard grids row by row over the grid (8 wide for L1, the 12 banks for DRAM).
    const int width = shard_grid_bound(m.buffer).x;
    m.grid_x = std::min(m.core_count, width);
    m.grid_y = (m.core_count + width - 1) / width;
  }
  if (m.core_count == 0) m.core_count = m.grid_x * m.grid_y;
  if (m.core_count > m.grid_x * m.grid_y)
    fail(path, "core_count " + std::to_string(m.core_count) + " exceeds the grid " + std::to_string(m.grid_x) + "x" +
                   std::to_string(m.grid_y));
}

// ---- short form -------------------------------------------------------------------------------

void parse_short_memory_fields(const Value& obj, const Path& path, MemoryConfig& m) {
  if (const Value* g = optional(obj, "grid")) {
    const Path gp(path, "grid");
    if (!g->IsArray() || g->Size() != 2) fail(gp, "expected [x, y], got " + describe(*g));
    const Path x(gp, std::size_t{0}), y(gp, std::size_t{1});
    const ShardGridBound bound = shard_grid_bound(m.buffer);
    m.grid_x = static_cast<int>(get_int((*g)[0], x, 1, bound.x));
    m.grid_y = static_cast<int>(get_int((*g)[1], y, 1, bound.y));
  }
  if (const Value* c = optional(obj, "core_count")) {
    const Path cp(path, "core_count");
    const ShardGridBound bound = shard_grid_bound(m.buffer);
    m.core_count = static_cast<int>(get_int(*c, cp, 1, bound.x * bound.y));
  }
  complete_shard_grid(m, path);
}

bool is_short_input_key(std::string_view key) {
  switch (key.size()) {
    case 4: return std::memcmp(key.data(), "grid", 4) == 0;
    case 5: return std::memcmp(key.data(), "shape", 5) == 0 || std::memcmp(key.data(), "dtype", 5) == 0;
    case 6: return std::memcmp(key.data(), "layout", 6) == 0 || std::memcmp(key.data(), "memory", 6) == 0;
    case 10: return std::memcmp(key.data(), "core_count", 10) == 0;
    default: return false;
  }
}

void reject_unknown_keys(const Value& obj, const Path& path) {
  // The first unknown key in key order, as a key-sorted object would report it.
  const Value::Member* unknown = nullptr;
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    const std::string_view key = key_of(*it);
    if (is_short_input_key(key)) continue;
    if (!unknown || key < key_of(*unknown)) unknown = &*it;
  }
  if (unknown) {
    const Path field(path, key_of(*unknown));
    fail(field, "unknown key; expected shape, dtype, layout, memory, grid, core_count");
  }
}

TensorDesc parse_short_tensor(const Value& obj, const Path& path) {
  reject_unknown_keys(obj, path);
  TensorDesc t;
  {
    const Path p(path, "shape");
    parse_shape(require(obj, "shape", path, "a list of positive integers"), p, t);
  }
  {
    const Path p(path, "dtype");
    t.dtype = dtype_named(get_string(require(obj, "dtype", path, "a dtype name"), p, "a dtype name"), p);
  }
  {
    const Path p(path, "layout");
    t.layout = layout_named(get_string(require(obj, "layout", path, "TILE or ROW_MAJOR"), p, "TILE or ROW_MAJOR"), p);
  }
  {
    const Path p(path, "memory");
    t.memory = memory_named(
        get_string(require(obj, "memory", path, "a memory config name"), p, "a memory config name"), p);
  }
  parse_short_memory_fields(obj, path, t.memory);
  return t;
}

// ---- TensorSpec form (ttnn / tt-mlir serialization) --------------------------------------------

DType dtype_from_enum(const Value& j, const Path& path) {
  if (j.IsString()) return dtype_named(strip_scope({j.GetString(), j.GetStringLength()}), path);
  // tt-metal's DataType enum values; FP8_E4M3 (8) and INT8 (9) have no model either.
  if (j.IsInt64() && (j.GetInt64() == 8 || j.GetInt64() == 9))
    fail(path, std::string("DataType ") + (j.GetInt64() == 8 ? "8 (FP8_E4M3)" : "9 (INT8)") +
                   " is not supported; expected 0-4, 6 or 7");
  switch (get_int(j, path, 0, 7)) {
    case 0: return DType::bfloat16;
    case 1: return DType::float32;
    case 2: return DType::uint32;
    case 3: return DType::bfloat8_b;
    case 4: return DType::bfloat4_b;
    case 6: return DType::uint16;
    case 7: return DType::int32;
    default: fail(path, "DataType 5 (UINT8) is not supported; expected 0-4, 6 or 7");
  }
}

BufferType buffer_from_enum(const Value& j, const Path& path) {
  if (j.IsString()) {
    const std::string_view s = strip_scope({j.GetString(), j.GetStringLength()});
    if (iequals(s, "DRAM")) return BufferType::dram;
    if (iequals(s, "L1")) return BufferType::l1;
    fail(path, "expected buffer type DRAM or L1, got \"" + upper(s) + "\"");
  }
  switch (get_int(j, path, 0, 4)) {
    case 0: return BufferType::dram;
    case 1: return BufferType::l1;
    default: fail(path, "expected buffer type 0 (DRAM) or 1 (L1), got " + describe(j));
  }
}

MemoryLayout layout_from_enum(const Value& j, const Path& path) {
  if (j.IsString()) {
    const std::string_view s = strip_scope({j.GetString(), j.GetStringLength()});
    if (iequals(s, "INTERLEAVED")) return MemoryLayout::interleaved;
    if (iequals(s, "HEIGHT_SHARDED")) return MemoryLayout::height_sharded;
    if (iequals(s, "WIDTH_SHARDED")) return MemoryLayout::width_sharded;
    if (iequals(s, "BLOCK_SHARDED")) return MemoryLayout::block_sharded;
    fail(path, "expected INTERLEAVED, HEIGHT_SHARDED, WIDTH_SHARDED or BLOCK_SHARDED, got \"" + upper(s) + "\"");
  }
  switch (get_int(j, path, 0, 4)) {
    case 0: return MemoryLayout::interleaved;
    case 2: return MemoryLayout::height_sharded;
    case 3: return MemoryLayout::width_sharded;
    case 4: return MemoryLayout::block_sharded;
    default: fail(path, "expected memory layout 0, 2, 3 or 4, got " + describe(j));
  }
}

// shard_spec.grid is a CoreRangeSet: a list of {start: {x, y}, end: {x, y}} (possibly wrapped in
// {"ranges": [...]}).
void parse_core_range_set(const Value& j, const Path& path, MemoryConfig& m) {
  const Value* ranges = &j;
  if (j.IsObject()) ranges = &require(j, "ranges", path, "a list of core ranges");
  if (!ranges->IsArray() || ranges->Empty()) fail(path, "expected a non-empty list of core ranges");
  int max_x = -1, max_y = -1, cores = 0;
  const ShardGridBound bound = shard_grid_bound(m.buffer);
  for (rapidjson::SizeType i = 0; i < ranges->Size(); ++i) {
    const Path rp(path, i);
    const Path sp(rp, "start"), ep(rp, "end");
    const Path sxp(sp, "x"), syp(sp, "y"), exp(ep, "x"), eyp(ep, "y");
    const Value& r = get_object((*ranges)[i], rp, "{start: {x, y}, end: {x, y}}");
    const Value& s = get_object(require(r, "start", rp, "{x, y}"), sp, "{x, y}");
    const Value& e = get_object(require(r, "end", rp, "{x, y}"), ep, "{x, y}");
    auto sx = get_int(require(s, "x", sp, "int"), sxp, 0, bound.x - 1);
    auto sy = get_int(require(s, "y", sp, "int"), syp, 0, bound.y - 1);
    auto ex = get_int(require(e, "x", ep, "int"), exp, sx, bound.x - 1);
    auto ey = get_int(require(e, "y", ep, "int"), eyp, sy, bound.y - 1);
    cores += static_cast<int>((ex - sx + 1) * (ey - sy + 1));
    max_x = std::max<int>(max_x, static_cast<int>(ex));
    max_y = std::max<int>(max_y, static_cast<int>(ey));
  }
  m.grid_x = max_x + 1;
  m.grid_y = max_y + 1;
  m.core_count = std::min(cores, bound.x * bound.y);
}

// A ttnn MemoryConfig. What it leaves out is ttnn's MemoryConfig default, DRAM interleaved (TORP sends
// {"buffer_type": 0} alone).
MemoryConfig parse_memory_config_object(const Value& mc, const Path& path) {
  MemoryConfig m;
  const Path bp(path, "buffer_type"), lp(path, "memory_layout");
  if (const Value* b = optional(mc, "buffer_type")) m.buffer = buffer_from_enum(*b, bp);
  if (const Value* l = optional(mc, "memory_layout")) m.layout = layout_from_enum(*l, lp);
  if (m.sharded()) {
    const Path sp(path, "shard_spec");
    const Value* spec = optional(mc, "shard_spec");
    if (spec && spec->IsObject() && optional(*spec, "value")) spec = optional(*spec, "value");  // std::optional wrapper
    if (!spec || !spec->IsObject()) fail(sp, "missing; a sharded memory config needs a shard_spec with a grid");
    const Path gp(sp, "grid");
    parse_core_range_set(require(*spec, "grid", sp, "a core range set"), gp, m);
    if (const Value* shape = optional(*spec, "shape")) {  // the shard shape, checked by the legality rules
      const Path shp(sp, "shape");
      if (!shape->IsArray() || shape->Size() != 2) fail(shp, "expected [rows, width], got " + describe(*shape));
      const Path r(shp, std::size_t{0}), w(shp, std::size_t{1});
      m.shard_rows = get_int((*shape)[0], r, 1, kMaxDim);
      m.shard_width = get_int((*shape)[1], w, 1, kMaxDim);
    }
    if (const Value* o = optional(*spec, "orientation")) {
      const Path op(sp, "orientation");
      if (o->IsString()) {
        const std::string_view name = strip_scope({o->GetString(), o->GetStringLength()});
        if (!iequals(name, "ROW_MAJOR") && !iequals(name, "COL_MAJOR"))
          fail(op, "expected ROW_MAJOR or COL_MAJOR, got \"" + upper(name) + "\"");
        m.col_major = iequals(name, "COL_MAJOR");
      } else {
        m.col_major = get_int(*o, op, 0, 1) == 1;
      }
    }
  }
  return m;
}

TensorDesc parse_tensor_spec(const Value& obj, const Path& input_path) {
  const Value* spec_ptr = optional(obj, "tensor_spec");
  const Path spec_path(input_path, "tensor_spec");
  const Path& path = spec_ptr ? spec_path : input_path;
  const Value& spec = get_object(spec_ptr ? *spec_ptr : obj, path, "a TensorSpec object");
  TensorDesc t;
  {
    const Path p(path, "logical_shape");
    parse_logical_shape(require(spec, "logical_shape", path, "a list of positive integers"), p, t);
  }
  const Path lp(path, "tensor_layout");
  const Value& tl = get_object(require(spec, "tensor_layout", path, "a TensorLayout object"), lp, "a TensorLayout object");
  {
    const Path p(lp, "dtype");
    t.dtype = dtype_from_enum(require(tl, "dtype", lp, "a DataType"), p);
  }
  const Path mp(lp, "memory_config");
  if (const Value* mc = optional(tl, "memory_config"))  // absent: ttnn's default, DRAM interleaved
    t.memory = parse_memory_config_object(get_object(*mc, mp, "a MemoryConfig object"), mp);
  // page_config is a variant: index 0 = RowMajorPageConfig, 1 = TilePageConfig.
  t.layout = Layout::tile;
  if (const Value* pc = optional(tl, "page_config")) {
    const Value* cfg = optional(*pc, "config");
    const Value* idx = cfg ? optional(*cfg, "index") : nullptr;
    if (idx) {
      const Path pp(lp, "page_config"), cp(pp, "config"), ip(cp, "index");
      t.layout = get_int(*idx, ip, 0, 1) == 0 ? Layout::row_major : Layout::tile;
    }
  }
  return t;
}

bool is_tensor_spec(const Value& obj) { return has(obj, "tensor_spec") || has(obj, "logical_shape"); }

TensorDesc parse_tensor(const Value& j, const Path& path) {
  const Value& obj = get_object(j, path, "a tensor (short form {shape, dtype, layout, memory} or a TensorSpec)");
  return is_tensor_spec(obj) ? parse_tensor_spec(obj, path) : parse_short_tensor(obj, path);
}

// ---- output shape per op kind ------------------------------------------------------------------

int normalize_dim(std::int64_t d, int rank, const Path& path) {
  if (d < -rank || d >= rank)
    fail(path, "expected a dim in [" + std::to_string(-rank) + ", " + std::to_string(rank - 1) + "], got " +
                   std::to_string(d));
  return static_cast<int>(d < 0 ? d + rank : d);
}

std::int64_t int_attr(const Value* attrs, std::string_view key, std::int64_t fallback) {
  if (!attrs) return fallback;
  const Value* v = optional(*attrs, key);
  if (!v) return fallback;
  const Path base("attributes");
  const Path field(base, key);
  return get_int(*v, field, -kMaxRank, kMaxDim);
}

std::int64_t volume(const Shape& s) {
  std::int64_t v = 1;
  for (int i = 0; i < s.rank; ++i) v *= s.dims[static_cast<std::size_t>(i)];
  return v;
}

// The output shape the op produces; QueryError where inputs are incompatible.
Shape derive_output_shape(const Query& q, const Value* attrs) {
  const TensorDesc& a = q.inputs[0];
  Shape shape;
  shape.dims = a.dims;
  shape.rank = a.rank;
  switch (q.op->kind) {
    case OpKind::eltwise_unary:
    case OpKind::normalization:
      return shape;
    case OpKind::eltwise_binary: {
      if (q.inputs.size() == 1) return shape;  // tensor op scalar
      const TensorDesc& b = q.inputs[1];
      const int rank = std::max(a.rank, b.rank);
      Shape out;
      out.rank = rank;
      for (int i = 0; i < rank; ++i) {
        const std::int64_t da = i < rank - a.rank ? 1 : a.dims[static_cast<std::size_t>(i - (rank - a.rank))];
        const std::int64_t db = i < rank - b.rank ? 1 : b.dims[static_cast<std::size_t>(i - (rank - b.rank))];
        if (da != db && da != 1 && db != 1)
          fail("inputs[1].shape", "not broadcastable with inputs[0].shape: dim " + std::to_string(i) + " is " +
                                      std::to_string(db) + " vs " + std::to_string(da));
        out.dims[static_cast<std::size_t>(i)] = std::max(da, db);
      }
      return out;
    }
    case OpKind::matmul: {
      const TensorDesc& b = q.inputs[1];
      if (a.rank < 2) fail("inputs[0].shape", "matmul needs rank >= 2, got rank " + std::to_string(a.rank));
      if (b.rank < 2) fail("inputs[1].shape", "matmul needs rank >= 2, got rank " + std::to_string(b.rank));
      if (a.dim(-1) != b.dim(-2))
        fail("inputs[1].shape", "inner dims differ: inputs[0] has K=" + std::to_string(a.dim(-1)) +
                                    ", inputs[1] has K=" + std::to_string(b.dim(-2)));
      shape.dims[static_cast<std::size_t>(shape.rank - 1)] = b.dim(-1);
      return shape;
    }
    case OpKind::reduction: {
      const int d = normalize_dim(int_attr(attrs, "dim", -1), a.rank, "attributes.dim");
      shape.dims[static_cast<std::size_t>(d)] = 1;
      return shape;
    }
    case OpKind::memory_move:
      return shape;  // a placement changes, the tensor does not
    case OpKind::data_movement:
      break;
  }
  const std::string& name = q.op->name;
  if (name == "ttnn.transpose") {
    const int d0 = normalize_dim(int_attr(attrs, "dim0", -2), a.rank, "attributes.dim0");
    const int d1 = normalize_dim(int_attr(attrs, "dim1", -1), a.rank, "attributes.dim1");
    std::swap(shape.dims[static_cast<std::size_t>(d0)], shape.dims[static_cast<std::size_t>(d1)]);
    return shape;
  }
  if (name == "ttnn.concat") {
    const int d = normalize_dim(int_attr(attrs, "dim", -1), a.rank, "attributes.dim");
    for (std::size_t i = 1; i < q.inputs.size(); ++i) {
      if (q.inputs[i].rank != a.rank) {
        const Path inputs("inputs");
        const Path input(inputs, i);
        const Path field(input, "shape");
        fail(field, "concat inputs must have equal rank");
      }
      shape.dims[static_cast<std::size_t>(d)] += q.inputs[i].dims[static_cast<std::size_t>(d)];
    }
    return shape;
  }
  if (name == "ttnn.embedding") {  // indices [..., S] look up rows of a [V, H] table: [..., S, H]
    const TensorDesc& table = q.inputs[1];
    if (a.rank >= kMaxRank) fail("inputs[0].shape", "embedding indices need rank < 8");
    shape.dims[static_cast<std::size_t>(a.rank)] = table.dim(-1);
    shape.rank = a.rank + 1;
    return shape;
  }
  if (name == "ttnn.permute" || name == "ttnn.reshape" || name == "ttnn.slice" || name == "ttnn.pad") {
    const Value* s = attrs ? optional(*attrs, "shape") : nullptr;
    if (!s)
      fail("attributes.shape", "missing; " + name + " needs its result shape as \"attributes\": {\"shape\": [...]} "
                               "or \"output\": {\"shape\": [...]}");
    Shape t;
    parse_shape(*s, "attributes.shape", t.dims, t.rank);
    if (name == "ttnn.reshape" && volume(t) != a.volume())
      fail("attributes.shape", "reshape must keep the element count " + std::to_string(a.volume()) + ", got " +
                                   std::to_string(volume(t)));
    return t;
  }
  return shape;  // layout and memory conversions keep the shape
}

// Edits (insertions, deletions, substitutions) that turn a into b.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

[[noreturn, gnu::cold, gnu::noinline]] void fail_unknown_op(std::string_view op_name) {
  // The catalogue holds well over a hundred ops: name the closest few, not all.
  std::vector<std::pair<std::size_t, const std::string*>> ranked;
  for (const auto& info : catalogue()) ranked.emplace_back(edit_distance(op_name.substr(0, 64), info.name), &info.name);
  const std::size_t shown = std::min<std::size_t>(5, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(shown), ranked.end());
  std::string closest;
  for (std::size_t i = 0; i < shown; ++i) closest += (i ? ", " : "") + *ranked[i].second;
  throw QueryError("op", "unknown op \"" + std::string(op_name) + "\"; the catalogue (" +
                             std::to_string(catalogue().size()) + " ops, catalogue/ops.json) has none of that name; "
                             "closest: " + closest);
}

// A build name: what a model folder's build table calls a tt-metal build (a commit or a source).
constexpr std::size_t kMaxBuildName = 200;
std::string build_named(const Value& v) {
  const std::string_view name = get_string(v, "build", "a build name (a tt-metal commit prefix or a source)");
  if (name.empty() || name.size() > kMaxBuildName ||
      !std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c < 127; }))
    fail("build", "expected a build name (a tt-metal commit prefix or a source): 1 to " +
                      std::to_string(kMaxBuildName) + " printable ASCII characters without spaces");
  return std::string(name);
}

// "a, b, c" of a table of names, for messages.
template <std::size_t N>
std::string listed(const char* const (&names)[N]) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) out += (i ? ", " : "") + std::string(names[i]);
  return out;
}

template <std::size_t N>
bool in_table(std::string_view key, const char* const (&names)[N]) {
  for (const char* name : names)
    if (key == name) return true;
  return false;
}

// The first key of `obj` (in key order) that `names` lacks: refused with the whole table.
template <std::size_t N>
void refuse_keys_outside(const Value& obj, const Path& path, const char* const (&names)[N], const char* what) {
  const Value::Member* unknown = nullptr;
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it)
    if (!in_table(key_of(*it), names) && (!unknown || key_of(*it) < key_of(*unknown))) unknown = &*it;
  if (!unknown) return;
  const Path field(path, key_of(*unknown));
  fail(field, std::string("unknown ") + what + "; expected one of " + listed(names));
}

Query parse_query_fields(const Value& root);

Query parse_query_object(const Value& root, Legality legality) {
  Query q = parse_query_fields(root);
  if (legality == Legality::checked) check_legality(q);
  return q;
}

Query parse_query_fields(const Value& root) {
  const Path root_path("");
  const Value& obj = get_object(root, root_path, "a JSON object {\"op\", \"inputs\", ...}");
  refuse_keys_outside(obj, root_path, kQueryKeys, "key");
  Query q;
  const std::string_view op_name = get_string(require(obj, "op", root_path, "an op name such as \"ttnn.matmul\""),
                                              "op", "an op name such as \"ttnn.matmul\"");
  q.op = find_op(op_name);
  if (!q.op) fail_unknown_op(op_name);
  if (const Value* build = optional(obj, "build")) q.build = build_named(*build);
  const Path inputs_path("inputs");
  const Value& inputs = require(obj, "inputs", root_path, "a list of input tensors");
  if (!inputs.IsArray()) fail(inputs_path, "expected a list of input tensors, got " + describe(inputs));
  const auto n = static_cast<int>(inputs.Size());
  if (n < q.op->min_inputs || n > q.op->max_inputs) {
    const std::string expected = q.op->min_inputs == q.op->max_inputs
                                     ? std::to_string(q.op->min_inputs)
                                     : std::to_string(q.op->min_inputs) + " to " + std::to_string(q.op->max_inputs);
    fail(inputs_path, q.op->name + " takes " + expected + " input tensors, got " + std::to_string(n));
  }
  q.inputs.reserve(inputs.Size());
  for (rapidjson::SizeType i = 0; i < inputs.Size(); ++i) {
    const Path input(inputs_path, i);
    q.inputs.push_back(parse_tensor(inputs[i], input));
  }

  const Value* attrs = optional(obj, "attributes");
  if (attrs) refuse_keys_outside(get_object(*attrs, "attributes", "an object"), "attributes", kAttributeNames, "attribute");
  if (q.op->kind == OpKind::matmul) {
    const Value* mf = attrs ? optional(*attrs, "math_fidelity") : nullptr;
    q.math_fidelity = mf ? math_fidelity_named(get_string(*mf, "attributes.math_fidelity", "a math fidelity name"),
                                               "attributes.math_fidelity")
                         : math_fidelity_named(q.op->default_math_fidelity, "catalogue");
  }

  // Output: derived from the op, then overridden by whatever the query states.
  q.output = q.inputs[0];
  const Value* out = optional(obj, "output");
  if (out) {
    const Path op("output");
    const Value& o = get_object(*out, op, "an object {shape?, dtype?, layout?, memory?, grid?, core_count?}");
    if (is_tensor_spec(o)) {
      q.output = parse_tensor_spec(o, op);
      q.output_placed = true;
      return q;
    }
    if (has(o, "buffer_type") || has(o, "memory_layout")) {  // a bare ttnn MemoryConfig
      q.output.memory = parse_memory_config_object(o, op);
      q.output_placed = true;
    } else {
      reject_unknown_keys(o, op);
      if (const Value* s = optional(o, "shape")) parse_shape(*s, "output.shape", q.output);
      if (const Value* d = optional(o, "dtype"))
        q.output.dtype = dtype_named(get_string(*d, "output.dtype", "a dtype name"), "output.dtype");
      if (const Value* l = optional(o, "layout"))
        q.output.layout = layout_named(get_string(*l, "output.layout", "TILE or ROW_MAJOR"), "output.layout");
      if (const Value* m = optional(o, "memory")) {
        q.output.memory = memory_named(get_string(*m, "output.memory", "a memory config name"), "output.memory");
        parse_short_memory_fields(o, op, q.output.memory);
        q.output_placed = true;
      } else if (has(o, "grid") || has(o, "core_count")) {
        fail(op, "grid / core_count given without \"memory\"");
      }
      if (optional(o, "shape")) return q;
    }
  }
  const Shape shape = derive_output_shape(q, attrs);
  check_elements(shape.dims, shape.rank, "output.shape", "the output shape the op derives,");
  q.output.dims = shape.dims;
  q.output.rank = shape.rank;
  if (q.op->name == "ttnn.to_layout" && attrs) {
    if (const Value* l = optional(*attrs, "layout"))
      q.output.layout = layout_named(get_string(*l, "attributes.layout", "TILE or ROW_MAJOR"), "attributes.layout");
  }
  if (q.op->name == "ttnn.tilize") q.output.layout = Layout::tile;
  if (q.op->name == "ttnn.untilize") q.output.layout = Layout::row_major;
  return q;
}

// ---- into the DOM ------------------------------------------------------------------------------

// The DOM of one query lives in a pool on the caller's stack (about 2.4 bytes per byte of text;
// larger queries spill to the heap), so building it allocates nothing.
struct DomScratch {
  static constexpr std::size_t kValueBytes = 6144, kStackBytes = 2048;
  alignas(16) char value_buffer[kValueBytes];
  alignas(16) char stack_buffer[kStackBytes];
  Pool values{value_buffer, kValueBytes, 16384};
  Pool stack{stack_buffer, kStackBytes, 16384};
  Doc doc{&values, 512, &stack};
};

// nlohmann SAX events into a rapidjson document (whose handler methods build the DOM iteratively).
class SaxToDoc {
 public:
  explicit SaxToDoc(Doc& doc) : doc_(doc) {}
  bool null() { return value(doc_.Null()); }
  bool boolean(bool b) { return value(doc_.Bool(b)); }
  bool number_integer(json::number_integer_t v) { return value(doc_.Int64(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return value(doc_.Uint64(v)); }
  bool number_float(json::number_float_t v, const std::string& /*text*/) { return value(doc_.Double(v)); }
  bool string(std::string& s) { return value(doc_.String(s.data(), size(s), true)); }
  bool binary(json::binary_t& /*b*/) {
    throw QueryError("", "binary values are not supported in a query");
  }
  bool start_object(std::size_t /*elements*/) {
    counts_.push_back(0);
    return doc_.StartObject();
  }
  bool key(std::string& k) { return doc_.Key(k.data(), size(k), true); }
  bool end_object() { return end(true); }
  bool start_array(std::size_t /*elements*/) {
    counts_.push_back(0);
    return doc_.StartArray();
  }
  bool end_array() { return end(false); }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/, const nlohmann::detail::exception& e) {
    error_ = e.what();
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  static rapidjson::SizeType size(const std::string& s) {
    if (s.size() > 0xFFFFFFFFu) throw QueryError("", "string of " + std::to_string(s.size()) + " bytes in a query");
    return static_cast<rapidjson::SizeType>(s.size());
  }
  bool value(bool ok) {
    if (!counts_.empty()) ++counts_.back();
    return ok;
  }
  bool end(bool object) {
    const rapidjson::SizeType n = counts_.back();
    counts_.pop_back();
    return value(object ? doc_.EndObject(n) : doc_.EndArray(n));
  }
  Doc& doc_;
  std::vector<rapidjson::SizeType> counts_;
  std::string error_;
};

// An nlohmann value replayed as SAX events (iteratively: values may nest arbitrarily deep).
bool replay(const json& root, SaxToDoc& sax) {
  struct Frame {
    const json* node;
    json::const_iterator it;
  };
  std::vector<Frame> stack;
  auto emit = [&](const json& j) -> bool {
    switch (j.type()) {
      case json::value_t::object:
        stack.push_back({&j, j.cbegin()});
        return sax.start_object(j.size());
      case json::value_t::array:
        stack.push_back({&j, j.cbegin()});
        return sax.start_array(j.size());
      case json::value_t::string: {
        std::string s = j.get<std::string>();
        return sax.string(s);
      }
      case json::value_t::boolean: return sax.boolean(j.get<bool>());
      case json::value_t::number_integer: return sax.number_integer(j.get<json::number_integer_t>());
      case json::value_t::number_unsigned: return sax.number_unsigned(j.get<json::number_unsigned_t>());
      case json::value_t::number_float: return sax.number_float(j.get<double>(), std::string());
      case json::value_t::binary: {
        json::binary_t b;
        return sax.binary(b);
      }
      case json::value_t::null:
      case json::value_t::discarded:
      default: return sax.null();
    }
  };
  if (!emit(root)) return false;
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.it == f.node->cend()) {
      const bool object = f.node->is_object();
      stack.pop_back();
      if (!(object ? sax.end_object() : sax.end_array())) return false;
      continue;
    }
    const json& child = *f.it;
    if (f.node->is_object()) {
      std::string k = f.it.key();
      if (!sax.key(k)) return false;
    }
    ++f.it;  // before emit: emit may grow the stack and move f
    if (!emit(child)) return false;
  }
  return true;
}

Query parse_with_nlohmann(std::string_view text, DomScratch& dom, Legality legality) {
  SaxToDoc sax(dom.doc);
  bool ok = false;
  auto generate = [&](Doc&) {
    ok = json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json, /*strict=*/true);
    return ok;
  };
  dom.doc.Populate(generate);
  if (!ok) throw QueryError("", "malformed JSON: " + sax.error());
  return parse_query_object(dom.doc, legality);
}

// What rapidjson reads here is a subset of what nlohmann reads, read the same way: ASCII text
// without escapes (checked before; rapidjson accepts a lone low surrogate \uDC00 that nlohmann
// refuses), no NaN / Infinity / comments / trailing commas, nesting up to kMaxFastDepth (deeper
// goes to nlohmann, which has no recursion limit), and no fractions or exponents (Integers below:
// queries have only integers, and a number such as 5121.79e308 rapidjson 1.1 does not read as
// nlohmann does).
constexpr unsigned kParseFlags = rapidjson::kParseInsituFlag;
constexpr int kMaxFastDepth = 64;

// rapidjson's events into the DOM, stopping the parse at the first number that is not a 64-bit
// integer (a fraction, an exponent, or out of range) or past kMaxFastDepth; nlohmann then reads
// the text.
class Integers {
 public:
  explicit Integers(Doc& doc) : doc_(doc) {}
  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(std::int64_t i) { return doc_.Int64(i); }
  bool Uint64(std::uint64_t u) { return doc_.Uint64(u); }
  bool Double(double) { return false; }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return false; }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return doc_.String(s, n, copy); }
  bool StartObject() { return ++depth_ <= kMaxFastDepth && doc_.StartObject(); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return doc_.Key(s, n, copy); }
  bool EndObject(rapidjson::SizeType n) { return --depth_, doc_.EndObject(n); }
  bool StartArray() { return ++depth_ <= kMaxFastDepth && doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { return --depth_, doc_.EndArray(n); }

 private:
  Doc& doc_;
  int depth_ = 0;
};

// True when every byte is ASCII and none is a backslash: the text the fast path reads.
bool plain_ascii(std::string_view s) {
  unsigned char high = 0, backslash = 0;
  for (const char c : s) {
    high |= static_cast<unsigned char>(c);
    backslash |= static_cast<unsigned char>(c == '\\');
  }
  return (high & 0x80) == 0 && backslash == 0;
}

// The fast path: rapidjson parses a copy of the text in place (strings stay in the copy).
bool parse_fast(std::string_view body, char* copy, DomScratch& dom) {
  if (!body.empty()) std::memcpy(copy, body.data(), body.size());
  copy[body.size()] = '\0';
  rapidjson::InsituStringStream stream(copy);
  bool ok = false;
  auto generate = [&](Doc& doc) {
    rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, Pool> reader(&dom.stack, 256);
    Integers handler(doc);
    // A NUL byte reads as the end of the text: it must have been read to its real end.
    ok = !reader.Parse<kParseFlags>(stream, handler).IsError() && stream.Tell() == body.size();
    return ok;
  };
  dom.doc.Populate(generate);
  return ok;
}

}  // namespace

std::int64_t TensorDesc::volume() const {
  std::int64_t v = 1;
  for (int i = 0; i < rank; ++i) v *= dims[static_cast<std::size_t>(i)];
  return v;
}

const char* to_string(DType d) { return kDTypeNames[static_cast<std::size_t>(d)]; }
const char* to_string(Layout l) { return kLayoutNames[static_cast<std::size_t>(l)]; }
const char* to_string(MathFidelity f) { return kMathFidelityNames[static_cast<std::size_t>(f)]; }

std::string memory_name(const MemoryConfig& m) {
  for (std::size_t i = 0; i < kMemoryConfigs.size(); ++i)
    if (kMemoryConfigs[i].buffer == m.buffer && kMemoryConfigs[i].layout == m.layout) return kMemoryNames[i];
  return "?";
}

DType parse_dtype(std::string_view name, const std::string& field) { return dtype_named(name, Path(field)); }
Layout parse_layout(std::string_view name, const std::string& field) { return layout_named(name, Path(field)); }
MemoryConfig parse_memory(std::string_view name, const std::string& field) { return memory_named(name, Path(field)); }
MathFidelity parse_math_fidelity(std::string_view name, const std::string& field) {
  return math_fidelity_named(name, Path(field));
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

Query parse_query(std::string_view text, Legality legality) {
  DomScratch dom;
  // A UTF-8 byte order mark is skipped, as nlohmann does (a partial one is malformed).
  std::string_view body = text;
  if (body.size() >= 3 && std::memcmp(body.data(), "\xEF\xBB\xBF", 3) == 0) body.remove_prefix(3);
  if (plain_ascii(body)) {
    constexpr std::size_t kLocal = 4096;
    char local[kLocal];
    std::string heap;
    char* copy = local;
    if (body.size() >= kLocal) {
      heap.resize(body.size() + 1);
      copy = heap.data();
    }
    if (parse_fast(body, copy, dom)) return parse_query_object(dom.doc, legality);
    dom.values.Clear();
    dom.stack.Clear();
  }
  return parse_with_nlohmann(text, dom, legality);
}

Query parse_query_json(const nlohmann::json& root, Legality legality) {
  if (root.is_discarded()) throw QueryError("", "expected a JSON object {\"op\", \"inputs\", ...}, got <discarded>");
  DomScratch dom;
  SaxToDoc sax(dom.doc);
  auto generate = [&](Doc&) { return replay(root, sax); };
  dom.doc.Populate(generate);
  return parse_query_object(dom.doc, legality);
}

Query parse_query_value(const rapidjson::Value& root, Legality legality) { return parse_query_object(root, legality); }

json torp_query(std::string_view op_name, const std::vector<json>& tensors, const json& output_memory_config,
                const json& attributes) {
  json q = {{"op", std::string(op_name)}, {"inputs", json(tensors)}};
  if (!output_memory_config.is_null()) q["output"] = output_memory_config;  // TORP's default {} states nothing
  if (!attributes.is_null()) q["attributes"] = attributes;
  return q;
}

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
  if (!q.build.empty()) j["build"] = q.build;
  return j.dump();
}

}  // namespace opcast
