// Expected failures are values: Result<T> holds a T or an Error.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace setlist {

enum class ErrorKind {
  network,       // connect/reset/timeout: no usable answer
  tls,           // the server could not be verified (certificate, host name, protocol version)
  http,          // the server answered with a non-2xx status
  protocol,      // the answer could not be understood (bad JSON, wrong types)
  io,            // local disk
  invalid,       // bad input on our side
  cancelled,
};

struct Error {
  ErrorKind kind = ErrorKind::invalid;
  std::string message;
  int http_status = 0;                  // for ErrorKind::http
  std::optional<double> retry_after_s;  // parsed Retry-After, when present
  bool request_sent = true;  // false when we know the request never left
};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;

}  // namespace setlist
