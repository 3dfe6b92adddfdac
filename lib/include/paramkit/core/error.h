// Error types every tool throws; the shared main wrapper maps them to exit codes (conventions.md).
#pragma once
#include <cstdio>
#include <stdexcept>
#include <string>

namespace paramkit {

// A number for an error message: short ("1e+300", not 300 digits), 6 significant digits.
inline std::string short_number(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

// Runtime failure: exit code 1.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  virtual int exit_code() const { return 1; }
};

// Bad usage (flags, options out of range): exit code 2.
class UsageError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 2; }
};

// Bad input file: exit code 2. The message names the file, the field and what was expected.
class InputError : public Error {
 public:
  using Error::Error;
  InputError(const std::string& file, const std::string& field, const std::string& what)
      : Error(file + (field.empty() ? "" : ": " + field) + ": " + what) {}
  int exit_code() const override { return 2; }
};

// Stopped by SIGINT/SIGTERM at a safe point: exit code 130.
class Interrupted : public Error {
 public:
  Interrupted() : Error("interrupted") {}
  int exit_code() const override { return 130; }
};

}  // namespace paramkit
