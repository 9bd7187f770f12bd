// Typed errors of the query library. Every bad query or bad model folder surfaces as one of
// these, naming the offending field or file and what was expected; no answer is ever 0 or NaN.
#pragma once

#include <stdexcept>
#include <string>

namespace opcast {

// A query the library cannot answer because the query itself is wrong (unknown op, missing
// field, bad rank or dims, unknown dtype / layout / memory config, malformed JSON).
class QueryError : public std::invalid_argument {
 public:
  QueryError(std::string field, const std::string& message)
      : std::invalid_argument(field.empty() ? message : field + ": " + message),
        field_(std::move(field)) {}
  // JSON-path-like location of the problem, e.g. "inputs[1].shape[2]"; empty for the whole query.
  const std::string& field() const noexcept { return field_; }

 private:
  std::string field_;
};

// A model folder that cannot be used: missing or corrupt files, wrong checksum, feature-schema
// mismatch, or no model for the asked op.
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace opcast
