// Small async tools of the engine, for coroutines on one io_context.
// Every wait here is cancellable: a cancelled coroutine leaves the wait with
// an exception (operation_aborted) and its frame unwinds normally.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <type_traits>

namespace setlist::engine {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

[[noreturn]] inline void throw_cancelled() {
  throw boost::system::system_error(asio::error::operation_aborted, "cancelled");
}

// Sleeps `d`; throws when the coroutine is cancelled meanwhile.
template <class Duration>
asio::awaitable<void> sleep_for(const asio::any_io_executor& ex, Duration d) {
  if (d <= Duration::zero()) co_return;
  asio::steady_timer t(ex, d);
  auto [ec] = co_await t.async_wait(use_tuple);
  if (ec == asio::error::operation_aborted) throw_cancelled();
}

// A counting semaphore. A waiter is handed its slot by release(); a waiter
// cancelled before that leaves the queue and throws, holding nothing.
class Semaphore {
 public:
  Semaphore(asio::any_io_executor ex, int count) : ex_(std::move(ex)), count_(count) {}
  asio::awaitable<void> acquire() {
    if (count_ > 0 && waiters_.empty()) {
      --count_;
      co_return;
    }
    auto w = std::make_shared<Waiter>(ex_);
    waiters_.push_back(w);
    co_await w->timer.async_wait(use_tuple);
    if (!w->granted) {
      std::erase(waiters_, w);
      throw_cancelled();
    }
  }
  void release() {
    while (!waiters_.empty()) {
      auto w = waiters_.front();
      waiters_.pop_front();
      w->granted = true;
      w->timer.cancel();
      return;
    }
    ++count_;
  }

 private:
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& ex) : timer(ex, steady::time_point::max()) {}
    asio::steady_timer timer;
    bool granted = false;
  };
  asio::any_io_executor ex_;
  int count_;
  std::deque<std::shared_ptr<Waiter>> waiters_;
};

// Holds one slot of a Semaphore until the scope ends.
class SlotGuard {
 public:
  explicit SlotGuard(Semaphore& s) : s_(s) {}
  ~SlotGuard() { s_.release(); }
  SlotGuard(const SlotGuard&) = delete;
  SlotGuard& operator=(const SlotGuard&) = delete;

 private:
  Semaphore& s_;
};

// Runs `f` on `ex` (the disk thread) and resumes with its result. The hop
// is shielded from cancellation (no cancellation crosses threads, and a
// file half-tagged is no use): the caller always waits for `f` to finish,
// so `f` may refer to the caller's frame.
template <class Executor, class F>
asio::awaitable<std::invoke_result_t<F&>> run_on(Executor ex, F f) {
  using R = std::invoke_result_t<F&>;
  std::optional<R> out;
  co_await asio::co_spawn(
      ex,
      [&]() -> asio::awaitable<void> {
        out.emplace(f());
        co_return;
      },
      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
  co_return std::move(*out);
}

}  // namespace setlist::engine
