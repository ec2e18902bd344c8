// Errors that callers handle: std::expected<T, Error> with a message that says where and why.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace vigil {

struct Error {
  std::string message;
};

template <class T = void>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> Fail(std::string message) {
  return std::unexpected<Error>(Error{std::move(message)});
}

}  // namespace vigil
