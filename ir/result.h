// Errors as values for the host runtime: loading a checkpoint or running the reference either gives
// the thing asked for or one error naming the file and what is wrong; libraries never exit.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace amk {

struct Error {
  Error() = default;
  Error(std::string file, std::string message, std::string detail = {})
      : file(std::move(file)), message(std::move(message)), detail(std::move(detail)) {}

  std::string file;    // the file the error is about; empty when it is about no file (a bad token)
  std::string message; // lowercase, no final period, names the tensor, field or value involved
  std::string detail;  // further lines, already rendered (a config.json's clang-style diagnostics)

  // "file: error: message", then the detail lines: the form the tools print.
  std::string render() const {
    std::string text = (file.empty() ? "" : file + ": ") + "error: " + message;
    return detail.empty() ? text : text + "\n" + detail;
  }
};

template <class T> class [[nodiscard]] Result {
public:
  Result(T value) : state_(std::move(value)) {}
  Result(Error error) : state_(std::move(error)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T &value() {
    assert(ok());
    return std::get<0>(state_);
  }
  const T &value() const {
    assert(ok());
    return std::get<0>(state_);
  }
  T &operator*() { return value(); }
  const T &operator*() const { return value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }

  const Error &error() const {
    assert(!ok());
    return std::get<1>(state_);
  }

private:
  std::variant<T, Error> state_;
};

} // namespace amk
