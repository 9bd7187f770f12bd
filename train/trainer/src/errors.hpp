// Error types that decide the trainer's exit code (see README.md, "Exit codes").
#pragma once

#include <stdexcept>
#include <string>

namespace opcast::trainer {

// Bad input the user can fix: config field, CSV file, command line. Exit code 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The exported weights do not reproduce mlpack's predictions. Exit code 3.
class SelfCheckError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace opcast::trainer
