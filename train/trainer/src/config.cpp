#include "config.hpp"

#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "errors.hpp"

namespace opcast::trainer {

namespace {

using nlohmann::json;

// Reads typed fields of one JSON object, naming "file: field.path" in every error.
class Fields {
 public:
  Fields(const json& obj, std::string file, std::string prefix)
      : obj_(obj), file_(std::move(file)), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw InputError(file_ + ": field '" + prefix_ + key + "' " + what);
  }
  std::string path(const std::string& key) const { return prefix_ + key; }
  const std::string& file() const { return file_; }

  const json* find(const std::string& key) {
    seen_.insert(key);
    auto it = obj_.find(key);
    return it == obj_.end() ? nullptr : &*it;
  }
  const json& require(const std::string& key) {
    const json* v = find(key);
    if (!v) fail(key, "is missing");
    return *v;
  }

  std::string string(const std::string& key, const std::string* fallback) {
    const json* v = fallback ? find(key) : &require(key);
    if (!v) return *fallback;
    if (!v->is_string() || v->get_ref<const std::string&>().empty())
      fail(key, "must be a non-empty string, got " + v->dump());
    return v->get<std::string>();
  }

  double number(const std::string& key, double fallback, double lo, double hi, bool lo_open,
                bool hi_open) {
    const json* v = find(key);
    if (!v) return fallback;
    const std::string range = std::string(lo_open ? "(" : "[") + fmt(lo) + ", " + fmt(hi) +
                              (hi_open ? ")" : "]");
    if (!v->is_number()) fail(key, "must be a number in " + range + ", got " + v->dump());
    const double d = v->get<double>();
    const bool ok = std::isfinite(d) && (lo_open ? d > lo : d >= lo) && (hi_open ? d < hi : d <= hi);
    if (!ok) fail(key, "must be in " + range + ", got " + v->dump());
    return d;
  }

  std::uint64_t integer(const std::string& key, std::uint64_t fallback, std::uint64_t lo,
                        std::uint64_t hi) {
    const json* v = find(key);
    if (!v) return fallback;
    return integer_value(*v, key, lo, hi);
  }

  std::uint64_t integer_value(const json& v, const std::string& key, std::uint64_t lo,
                              std::uint64_t hi) const {
    const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    if (!v.is_number_integer()) fail(key, "must be an integer in " + range + ", got " + v.dump());
    if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      if (u >= lo && u <= hi) return u;
    } else {
      const auto s = v.get<std::int64_t>();
      if (s >= 0 && std::uint64_t(s) >= lo && std::uint64_t(s) <= hi) return std::uint64_t(s);
    }
    fail(key, "must be an integer in " + range + ", got " + v.dump());
  }

  bool boolean(const std::string& key, bool fallback) {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(key, "must be true or false, got " + v->dump());
    return v->get<bool>();
  }

  // An optional nested object; returns an empty object when absent.
  const json& object(const std::string& key) {
    static const json empty = json::object();
    const json* v = find(key);
    if (!v) return empty;
    if (!v->is_object()) fail(key, "must be an object, got " + v->dump());
    return *v;
  }

  void warn_unknown() const {
    for (auto it = obj_.begin(); it != obj_.end(); ++it)
      if (!seen_.count(it.key()))
        std::cerr << "opcast_trainer: warning: " << file_ << ": unknown field '" << prefix_
                  << it.key() << "' ignored\n";
  }

 private:
  static std::string fmt(double d) {
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    std::ostringstream s;
    s << d;
    return s.str();
  }
  const json& obj_;
  std::string file_;
  std::string prefix_;
  std::set<std::string> seen_;
};

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::uint64_t kMaxCount = 1u << 30;

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& p) {
  std::filesystem::path path(p);
  return path.is_absolute() ? path : base / path;
}

}  // namespace

Config load_config(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::ifstream in(path);
  if (!in) throw InputError(file + ": cannot open config file");
  json root;
  try {
    root = json::parse(in);
  } catch (const json::parse_error& e) {
    throw InputError(file + ": invalid JSON: " + e.what());
  }
  if (!root.is_object()) throw InputError(file + ": top level must be a JSON object");

  Config c;
  c.config_path = path;
  const std::filesystem::path base = path.has_parent_path() ? path.parent_path() : ".";
  Fields top(root, file, "");

  c.op = top.string("op", nullptr);

  const json& features = top.require("features");
  if (!features.is_array() || features.empty())
    top.fail("features", "must be a non-empty array of column names");
  std::set<std::string> unique;
  for (std::size_t i = 0; i < features.size(); ++i) {
    const json& f = features[i];
    const std::string key = "features[" + std::to_string(i) + "]";
    if (!f.is_string() || f.get_ref<const std::string&>().empty())
      top.fail(key, "must be a non-empty string, got " + f.dump());
    if (!unique.insert(f.get<std::string>()).second)
      top.fail(key, "repeats column name \"" + f.get<std::string>() + "\"");
    c.features.push_back(f.get<std::string>());
  }

  const std::string default_target = "y", default_weight = "weight", default_fold = "fold";
  c.target = top.string("target", &default_target);
  if (unique.count(c.target)) top.fail("target", "names a feature column: \"" + c.target + "\"");
  c.weight_column = top.string("weight_column", &default_weight);
  if (unique.count(c.weight_column) || c.weight_column == c.target)
    top.fail("weight_column", "names a feature or the target: \"" + c.weight_column + "\"");
  c.fold_column = top.string("fold_column", &default_fold);
  if (unique.count(c.fold_column) || c.fold_column == c.target || c.fold_column == c.weight_column)
    top.fail("fold_column", "names a feature, the target or the weight column: \"" + c.fold_column + "\"");

  const std::string default_train = "train.csv", default_out = ".";
  c.train_csv = resolve(base, top.string("train", &default_train));
  c.out_dir = resolve(base, top.string("out_dir", &default_out));
  if (top.find("score")) c.score_csv = resolve(base, top.string("score", nullptr));

  {
    Fields ens(top.object("ensemble"), file, "ensemble.");
    c.members = ens.integer("members", c.members, 1, 1000);
    c.seed = ens.integer("seed", c.seed, 0, std::numeric_limits<std::uint32_t>::max());
    ens.warn_unknown();
  }
  {
    Fields arch(top.object("architecture"), file, "architecture.");
    if (const json* h = arch.find("hidden_layers")) {
      if (!h->is_array()) arch.fail("hidden_layers", "must be an array of layer widths, got " + h->dump());
      c.hidden_layers.clear();
      for (std::size_t i = 0; i < h->size(); ++i)
        c.hidden_layers.push_back(
            arch.integer_value((*h)[i], "hidden_layers[" + std::to_string(i) + "]", 1, 65536));
    }
    const std::string default_act = "relu";
    const std::string act = arch.string("activation", &default_act);
    if (!parse_activation(act, c.activation))
      arch.fail("activation", "must be one of relu, tanh, leaky_relu, identity; got \"" + act + "\"");
    arch.warn_unknown();
  }
  {
    Fields opt(top.object("optimizer"), file, "optimizer.");
    OptimizerConfig& o = c.optimizer;
    const std::string default_name = "adam";
    o.name = opt.string("name", &default_name);
    if (o.name != "adam") opt.fail("name", "must be \"adam\" (the only optimizer), got \"" + o.name + "\"");
    o.learning_rate = opt.number("learning_rate", o.learning_rate, 0.0, kInf, true, true);
    o.batch_size = opt.integer("batch_size", o.batch_size, 1, kMaxCount);
    o.beta1 = opt.number("beta1", o.beta1, 0.0, 1.0, false, true);
    o.beta2 = opt.number("beta2", o.beta2, 0.0, 1.0, false, true);
    o.epsilon = opt.number("epsilon", o.epsilon, 0.0, kInf, true, true);
    o.max_epochs = opt.integer("max_epochs", o.max_epochs, 1, 10'000'000);
    o.patience = opt.integer("patience", o.patience, 1, 10'000'000);
    o.weight_decay = opt.number("weight_decay", o.weight_decay, 0.0, kInf, false, true);
    opt.warn_unknown();
  }
  c.bootstrap = top.boolean("bootstrap", c.bootstrap);
  c.log_every = top.integer("log_every", c.log_every, 0, kMaxCount);
  top.warn_unknown();
  return c;
}

}  // namespace opcast::trainer
