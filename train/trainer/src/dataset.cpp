#include "dataset.hpp"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>

#include "errors.hpp"

namespace opcast::trainer {

namespace {

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    out.push_back(trim(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

std::string unquote(const std::string& s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t") == std::string::npos; }

// The columns a file holds besides the features: a training file has a target and a fold column
// and may have a weight column; a file to score has none (labels == nullptr).
struct Labels {
  const std::string& target;
  const std::string& fold;
  const std::string& weight;
};

Split read_table(const std::filesystem::path& path, const std::vector<std::string>& features,
                 const Labels* labels) {
  const std::string file = path.string();
  std::ifstream in(path);
  if (!in) throw InputError(file + ": cannot open CSV file");

  std::string line;
  std::size_t line_no = 0;
  auto next_line = [&]() -> bool {
    if (!std::getline(in, line)) return false;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  };
  if (!next_line()) throw InputError(file + ": empty file, expected a header row");
  if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 BOM

  // Column position in the file -> destination: feature index, or -1 target, -2 weight, -3 fold.
  const std::vector<std::string> header = split_fields(line);
  std::map<std::string, int> wanted;
  for (std::size_t j = 0; j < features.size(); ++j) wanted[features[j]] = int(j);
  if (labels) {
    wanted[labels->target] = -1;
    wanted[labels->fold] = -3;
  }
  std::vector<int> dest(header.size());
  std::map<std::string, std::size_t> seen;
  bool has_weight = false;
  for (std::size_t k = 0; k < header.size(); ++k) {
    const std::string name = unquote(header[k]);
    if (!seen.emplace(name, k).second)
      throw InputError(file + ": line 1: column \"" + name + "\" appears twice in the header");
    if (labels && name == labels->weight) {
      dest[k] = -2;
      has_weight = true;
      continue;
    }
    auto it = wanted.find(name);
    if (it == wanted.end())
      throw InputError(file + ": line 1: column \"" + name + "\" is " +
                       (labels ? "neither a config feature, the target \"" + labels->target +
                                     "\", the fold column \"" + labels->fold +
                                     "\" nor the weight column \"" + labels->weight + "\""
                               : std::string("not a config feature (a file to score holds the features only)")) +
                       " (header has " + std::to_string(header.size()) + " columns, config lists " +
                       std::to_string(features.size()) + " features)");
    dest[k] = it->second;
  }
  for (const auto& [name, index] : wanted)
    if (!seen.count(name))
      throw InputError(file + ": line 1: " +
                       (index == -1 ? "target" : index == -3 ? "fold" : "feature") + " column \"" +
                       name + "\" is missing from the header");

  Split s;
  s.name = file;
  s.n_features = features.size();
  std::vector<double> row(features.size());
  while (next_line()) {
    if (blank(line)) continue;
    const std::vector<std::string> fields = split_fields(line);
    if (fields.size() != header.size())
      throw InputError(file + ": line " + std::to_string(line_no) + ": has " +
                       std::to_string(fields.size()) + " fields, header has " +
                       std::to_string(header.size()));
    double y = 0.0, w = 1.0, fold = 0.0;
    for (std::size_t k = 0; k < fields.size(); ++k) {
      const std::string& f = fields[k];
      const std::string where = file + ": line " + std::to_string(line_no) + ", column \"" +
                                unquote(header[k]) + "\": ";
      char* end = nullptr;
      const double v = f.empty() ? 0.0 : std::strtod(f.c_str(), &end);
      if (f.empty() || end != f.c_str() + f.size())
        throw InputError(where + "not a number: \"" + f + "\"");
      if (!std::isfinite(v))
        throw InputError(where + "non-finite value \"" + f + "\"");
      if (dest[k] >= 0) row[dest[k]] = v;
      else if (dest[k] == -1) y = v;
      else if (dest[k] == -3) {
        if (v < 0.0 || v != std::floor(v) || v > 1e9)
          throw InputError(where + "a fold must be a non-negative integer, got " + f);
        fold = v;
      } else {
        if (v < 0.0) throw InputError(where + "negative weight " + f);
        w = v;
      }
    }
    s.x.insert(s.x.end(), row.begin(), row.end());
    if (labels) {
      s.y.push_back(y);
      s.fold.push_back(std::size_t(fold));
    }
    if (has_weight) s.weight.push_back(w);
    ++s.n_rows;
  }
  if (in.bad()) throw InputError(file + ": read error after line " + std::to_string(line_no));
  if (s.n_rows == 0) throw InputError(file + ": no data rows after the header");
  if (has_weight) {
    double total = 0.0;
    for (double w : s.weight) total += w;
    if (!(total > 0.0)) throw InputError(file + ": column \"" + labels->weight + "\": all weights are 0");
  }
  return s;
}

}  // namespace

Split read_split(const std::filesystem::path& path, const std::vector<std::string>& features,
                 const std::string& target, const std::string& fold_column,
                 const std::string& weight_column) {
  const Labels labels{target, fold_column, weight_column};
  return read_table(path, features, &labels);
}

Split read_features(const std::filesystem::path& path, const std::vector<std::string>& features) {
  return read_table(path, features, nullptr);
}

Split fold_rows(const Split& s, std::size_t fold, bool held_out) {
  Split o;
  o.name = s.name;
  o.n_features = s.n_features;
  for (std::size_t i = 0; i < s.n_rows; ++i) {
    if ((s.fold[i] == fold) != held_out) continue;
    o.x.insert(o.x.end(), s.x.begin() + i * s.n_features, s.x.begin() + (i + 1) * s.n_features);
    o.y.push_back(s.y[i]);
    o.fold.push_back(s.fold[i]);
    if (!s.weight.empty()) o.weight.push_back(s.weight[i]);
    ++o.n_rows;
  }
  return o;
}

Scaler fit_scaler(const Split& t) {
  const std::size_t n = t.n_rows, d = t.n_features;
  auto mean_std = [n](auto value_at, double& mean, double& sd) {
    double m = 0.0;
    for (std::size_t i = 0; i < n; ++i) m += value_at(i);
    m /= double(n);
    double v = 0.0;
    for (std::size_t i = 0; i < n; ++i) v += (value_at(i) - m) * (value_at(i) - m);
    mean = m;
    sd = std::sqrt(v / double(n));
    if (!(sd >= kStdFloor)) sd = 1.0;
  };
  Scaler sc;
  sc.feature_mean.resize(d);
  sc.feature_std.resize(d);
  for (std::size_t j = 0; j < d; ++j)
    mean_std([&](std::size_t i) { return t.x[i * d + j]; }, sc.feature_mean[j], sc.feature_std[j]);
  mean_std([&](std::size_t i) { return t.y[i]; }, sc.y_mean, sc.y_std);
  return sc;
}

Split standardize(const Split& s, const Scaler& sc) {
  Split o = s;
  const std::size_t d = s.n_features;
  for (std::size_t i = 0; i < s.n_rows; ++i) {
    for (std::size_t j = 0; j < d; ++j)
      o.x[i * d + j] = (s.x[i * d + j] - sc.feature_mean[j]) / sc.feature_std[j];
    o.y[i] = (s.y[i] - sc.y_mean) / sc.y_std;
  }
  if (!o.weight.empty()) {
    double total = 0.0;
    for (double w : o.weight) total += w;
    for (double& w : o.weight) w *= double(o.n_rows) / total;
  }
  return o;
}

}  // namespace opcast::trainer
