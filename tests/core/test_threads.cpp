// SPDX-License-Identifier: Apache-2.0
// Tests of set_num_threads / get_num_threads, parallel_for and detail::thread_pool: task coverage,
// slots, exceptions, nesting, concurrent callers and wake-ups, each guarded against hangs.
#include <attnkit/core/thread_pool.hpp>
#include <attnkit/core/threads.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace attnkit {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// Runs `body` on a thread of its own and waits up to `limit` for it. When it finishes, its
// exception (if any) is rethrown here and true is returned. When it does not, it is abandoned,
// still running, and false is returned: `body` must then own everything it touches.
bool finishes_within(std::chrono::seconds limit, std::function<void()> body) {
  struct state {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    std::exception_ptr failure;
  };
  auto s = std::make_shared<state>();
  std::thread([s, body = std::move(body)] {
    std::exception_ptr failure;
    try {
      body();
    } catch (...) {
      failure = std::current_exception();
    }
    std::lock_guard lock(s->mutex);
    s->done = true;
    s->failure = failure;
    s->done_cv.notify_all();
  }).detach();
  std::unique_lock lock(s->mutex);
  if (!s->done_cv.wait_for(lock, limit, [&] { return s->done; })) return false;
  if (s->failure) std::rethrow_exception(s->failure);
  return true;
}

// Runs `body`, which uses the process-wide pool, under a watchdog. A body that hangs fails the
// test and ends the process: a parallel region that never returns holds the pool's mutex and
// would block every later test (and the fixture's set_num_threads) forever.
void run_guarded(const std::function<void()>& body, std::chrono::seconds limit = 120s) {
  if (!finishes_within(limit, [&body] { body(); })) {
    ADD_FAILURE() << "did not finish within " << limit.count()
                  << " s: a lost wake-up or a deadlock in the thread pool";
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(EXIT_FAILURE);
  }
}

// Restores the thread count each test started with. Counts are changed under the watchdog too:
// a changed count destroys the pool, whose workers must wake up to be joined.
class Threads : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = get_num_threads(); }
  void TearDown() override { use_threads(saved_); }
  static void use_threads(int n) {
    run_guarded([n] { set_num_threads(n); });
  }

 private:
  int saved_ = 1;
};

// Runs parallel_for(n, ...) from the calling thread and checks its contract: every task in
// [0, n) runs exactly once; slots lie in [0, get_num_threads()); a slot names one thread for the
// whole call and no two tasks use a slot at once (so per-slot scratch is safe); slot 0 is the
// calling thread. Trivial tasks would all be done by the caller before a worker wakes, so each
// task first waits (up to a deadline) until min(n, threads) slots have taken part.
::testing::AssertionResult covers_every_task_once(index_t n) {
  const int threads = get_num_threads();
  const auto caller = std::this_thread::get_id();
  const int wanted = static_cast<int>(std::min<index_t>(threads, std::max<index_t>(n, 1)));
  const auto deadline = clock_type::now() + 5s;
  std::atomic<int> participants{0};
  std::vector<std::atomic<int>> runs(static_cast<std::size_t>(std::max<index_t>(n, 0)));
  std::vector<std::atomic<int>> busy(static_cast<std::size_t>(threads));
  std::vector<std::thread::id> owner(static_cast<std::size_t>(threads));
  std::mutex owner_mutex;
  std::atomic<int> calls{0}, bad_task{0}, bad_slot{0}, overlap{0}, wrong_thread{0};
  parallel_for(n, [&](index_t task, int slot) {
    ++calls;
    if (task < 0 || task >= n) {
      ++bad_task;
      return;
    }
    ++runs[static_cast<std::size_t>(task)];
    if (slot < 0 || slot >= threads) {
      ++bad_slot;
      return;
    }
    auto& mine = busy[static_cast<std::size_t>(slot)];
    if (mine.exchange(1) != 0) ++overlap;
    const auto me = std::this_thread::get_id();
    if ((me == caller) != (slot == 0)) ++wrong_thread;
    {
      std::lock_guard lock(owner_mutex);
      auto& o = owner[static_cast<std::size_t>(slot)];
      if (o == std::thread::id{}) {
        o = me;
        ++participants;
      }
      if (o != me) ++wrong_thread;
    }
    while (participants < wanted && clock_type::now() < deadline) std::this_thread::yield();
    mine.store(0);
  });
  auto failure = [&] {
    return ::testing::AssertionFailure()
           << "parallel_for(" << n << ") on " << threads << " threads: ";
  };
  if (bad_task) return failure() << bad_task << " tasks outside [0, n)";
  if (bad_slot) return failure() << bad_slot << " tasks with a slot outside [0, threads)";
  if (overlap) return failure() << overlap << " tasks found their slot in use";
  if (wrong_thread) return failure() << wrong_thread << " tasks ran on a thread not their slot's";
  for (index_t task = 0; task < n; ++task)
    if (const int r = runs[static_cast<std::size_t>(task)]; r != 1)
      return failure() << "task " << task << " ran " << r << " times";
  if (calls != n) return failure() << calls << " calls";
  for (std::size_t a = 0; a < owner.size(); ++a)
    for (std::size_t b = a + 1; b < owner.size(); ++b)
      if (owner[a] != std::thread::id{} && owner[a] == owner[b])
        return failure() << "slots " << a << " and " << b << " ran on the same thread";
  return ::testing::AssertionSuccess();
}

TEST_F(Threads, DefaultCountIsAtLeastOne) { EXPECT_GE(get_num_threads(), 1); }

TEST_F(Threads, DefaultComesFromTheEnvironmentElseTheHardware) {
  const char* name = "ATTNKIT_NUM_THREADS";
  std::optional<std::string> saved;
  if (const char* v = std::getenv(name)) saved = v;
  const unsigned hw = std::thread::hardware_concurrency();
  const int hardware = hw == 0 ? 1 : static_cast<int>(hw);

  ::unsetenv(name);
  EXPECT_EQ(detail::default_num_threads(), hardware);
  ::setenv(name, "3", 1);
  EXPECT_EQ(detail::default_num_threads(), 3);
  ::setenv(name, "1", 1);
  EXPECT_EQ(detail::default_num_threads(), 1);
  for (const char* invalid : {"0", "-2", "many", ""}) {
    ::setenv(name, invalid, 1);
    EXPECT_EQ(detail::default_num_threads(), hardware) << "ATTNKIT_NUM_THREADS=" << invalid;
  }

  if (saved)
    ::setenv(name, saved->c_str(), 1);
  else
    ::unsetenv(name);
}

TEST_F(Threads, SetThenGetReturnsTheCount) {
  for (int n : {1, 2, 3, 4, 7, 2, 1, 4}) {
    use_threads(n);
    EXPECT_EQ(get_num_threads(), n);
    run_guarded([] { EXPECT_TRUE(covers_every_task_once(100)); });
  }
}

TEST_F(Threads, NonPositiveCountsThrowNamingTheArgument) {
  use_threads(3);
  for (int n : {0, -1, INT_MIN}) {
    try {
      set_num_threads(n);
      ADD_FAILURE() << "set_num_threads(" << n << ") did not throw";
    } catch (const error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("set_num_threads"), std::string::npos) << what;
      EXPECT_NE(what.find("'n'"), std::string::npos) << what;
      EXPECT_NE(what.find(">= 1"), std::string::npos) << what;
      EXPECT_NE(what.find("got " + std::to_string(n)), std::string::npos) << what;
    }
    EXPECT_EQ(get_num_threads(), 3) << "a rejected count must change nothing";
  }
}

TEST_F(Threads, ParallelForVisitsEveryTaskExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    use_threads(threads);
    for (index_t n : {0, 1, 2, 3, 17, 1000})
      run_guarded([n] { EXPECT_TRUE(covers_every_task_once(n)); });
  }
}

TEST_F(Threads, NonPositiveTaskCountsCallNothing) {
  use_threads(2);
  int calls = 0;
  run_guarded([&] {
    parallel_for(0, [&](index_t, int) { ++calls; });
    parallel_for(-5, [&](index_t, int) { ++calls; });
  });
  EXPECT_EQ(calls, 0);
}

TEST_F(Threads, OneThreadMeansTheCallingThreadOnly) {
  use_threads(1);
  run_guarded([] {
    const auto caller = std::this_thread::get_id();
    std::vector<index_t> order;
    parallel_for(50, [&](index_t task, int slot) {
      EXPECT_EQ(std::this_thread::get_id(), caller);
      EXPECT_EQ(slot, 0);
      order.push_back(task);  // no synchronisation needed: one thread
    });
    ASSERT_EQ(order.size(), 50u);
    for (index_t task = 0; task < 50; ++task)
      EXPECT_EQ(order[static_cast<std::size_t>(task)], task);
  });
}

TEST_F(Threads, EverySlotRunsTasksWhenThereIsEnoughWork) {
  // Each task waits until every slot has been seen (or a generous deadline passes), so the
  // caller cannot finish the job alone however slowly the workers are scheduled.
  for (int threads : {2, 4}) {
    use_threads(threads);
    std::vector<std::atomic<bool>> seen(static_cast<std::size_t>(threads));
    auto all_seen = [&] {
      return std::all_of(seen.begin(), seen.end(), [](const auto& s) { return s.load(); });
    };
    const auto deadline = clock_type::now() + 20s;
    run_guarded([&] {
      parallel_for(64, [&](index_t, int slot) {
        if (slot >= 0 && slot < threads) seen[static_cast<std::size_t>(slot)] = true;
        while (!all_seen() && clock_type::now() < deadline) std::this_thread::yield();
      });
    });
    for (int slot = 0; slot < threads; ++slot)
      EXPECT_TRUE(seen[static_cast<std::size_t>(slot)])
          << "slot " << slot << " of " << threads << " never ran a task";
  }
}

struct task_failure {
  index_t task;
  int slot;
};

TEST_F(Threads, TaskExceptionIsRethrownToTheCaller) {
  for (int threads : {1, 2, 4}) {
    use_threads(threads);
    run_guarded([&] {
      std::atomic<int> started{0};
      try {
        parallel_for(100, [&](index_t task, int) {
          ++started;
          if (task == 10) throw std::runtime_error("task 10 failed");
        });
        ADD_FAILURE() << "nothing was rethrown on " << threads << " threads";
      } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "task 10 failed");
      }
      EXPECT_GE(started.load(), 1);
      if (threads == 1) {  // serial, in ascending order: nothing after task 10 starts
        EXPECT_EQ(started.load(), 11) << "tasks after the failure were started";
      }
      EXPECT_TRUE(covers_every_task_once(300)) << "after an exception";
    });
  }
}

TEST_F(Threads, ExceptionFromAWorkerIsRethrownToTheCaller) {
  use_threads(2);
  run_guarded([] {
    std::atomic<bool> thrown{false};
    const auto deadline = clock_type::now() + 20s;
    try {
      parallel_for(64, [&](index_t task, int slot) {
        if (slot != 0 && !thrown.exchange(true)) throw task_failure{task, slot};
        // The caller's tasks wait for the worker, so the worker gets a task to throw from.
        while (!thrown && clock_type::now() < deadline) std::this_thread::yield();
      });
      ADD_FAILURE() << "nothing was rethrown";
    } catch (const task_failure& e) {
      EXPECT_EQ(e.slot, 1);
      EXPECT_GE(e.task, 0);
      EXPECT_LT(e.task, 64);
    }
    EXPECT_TRUE(covers_every_task_once(1000)) << "after an exception";
  });
}

TEST_F(Threads, ManyThrowingTasksRethrowOneException) {
  use_threads(4);
  run_guarded([] {
    for (int round = 0; round < 20; ++round) {
      EXPECT_THROW(parallel_for(1000,
                                [](index_t task, int slot) {
                                  if (task % 7 == 3) throw task_failure{task, slot};
                                }),
                   task_failure);
    }
    EXPECT_TRUE(covers_every_task_once(1000)) << "after exceptions";
  });
}

TEST_F(Threads, NestedParallelForRunsSeriallyAndCompletes) {
  use_threads(4);
  std::atomic<long> total{0}, wrong_thread{0}, innermost{0};
  run_guarded([&] {
    parallel_for(8, [&](index_t outer, int) {
      const auto me = std::this_thread::get_id();
      parallel_for(50, [&](index_t inner, int slot) {
        if (std::this_thread::get_id() != me || slot != 0) ++wrong_thread;
        total += outer * 50 + inner;
        parallel_for(3, [&](index_t, int) {
          if (std::this_thread::get_id() != me) ++wrong_thread;
          ++innermost;
        });
      });
    });
  });
  EXPECT_EQ(total.load(), 400L * 399L / 2);
  EXPECT_EQ(innermost.load(), 8 * 50 * 3);
  EXPECT_EQ(wrong_thread.load(), 0) << "a nested region left its calling thread";
  run_guarded([] { EXPECT_TRUE(covers_every_task_once(500)) << "after nesting"; });
}

TEST_F(Threads, ConcurrentCallsFromUserThreadsAllComplete) {
  use_threads(4);
  std::atomic<int> failures{0};
  run_guarded([&] {
    std::vector<std::thread> users;
    for (int u = 0; u < 4; ++u) {
      users.emplace_back([&, u] {
        for (int iteration = 0; iteration < 100; ++iteration) {
          const index_t n = 1 + (u * 37 + iteration * 11) % 300;
          std::vector<std::atomic<int>> runs(static_cast<std::size_t>(n));
          std::atomic<bool> bad_slot{false};
          parallel_for(n, [&](index_t task, int slot) {
            ++runs[static_cast<std::size_t>(task)];
            if (slot < 0 || slot >= 4) bad_slot = true;
          });
          const bool ok = !bad_slot && std::all_of(runs.begin(), runs.end(),
                                                   [](const auto& r) { return r.load() == 1; });
          if (!ok) ++failures;
        }
      });
    }
    for (auto& t : users) t.join();
  });
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(Threads, SetNumThreadsWhileOtherThreadsRunLoopsIsSafe) {
  std::atomic<int> failures{0};
  std::atomic<long> calls{0};
  int last = 0;
  run_guarded([&] {
    std::atomic<bool> stop{false};
    std::vector<std::thread> runners;
    for (int u = 0; u < 3; ++u) {
      runners.emplace_back([&, u] {
        for (int iteration = 0; iteration < 5 || !stop; ++iteration) {
          const index_t n = 1 + (u * 53 + iteration * 7) % 200;
          std::vector<std::atomic<int>> runs(static_cast<std::size_t>(n));
          std::atomic<bool> bad_slot{false};
          parallel_for(n, [&](index_t task, int slot) {
            ++runs[static_cast<std::size_t>(task)];
            if (slot < 0 || slot >= 4) bad_slot = true;  // 4: the largest count ever set
          });
          const bool ok = !bad_slot && std::all_of(runs.begin(), runs.end(),
                                                   [](const auto& r) { return r.load() == 1; });
          if (!ok) ++failures;
          ++calls;
        }
      });
    }
    for (int change = 0; change < 200; ++change) {
      last = 1 + change % 4;
      set_num_threads(last);
      if (change % 16 == 0) std::this_thread::sleep_for(1ms);  // let the runners take the pool
    }
    stop = true;
    for (auto& t : runners) t.join();
  });
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(calls.load(), 0);
  EXPECT_EQ(get_num_threads(), last);
  run_guarded([] { EXPECT_TRUE(covers_every_task_once(1000)); });
}

TEST_F(Threads, ThousandsOfTinyCallsComplete) {
  // Back-to-back jobs of 2 or 3 tasks, with a pause now and then: each wakes workers that may
  // still be spinning, just falling asleep or (after a pause) asleep, where a lost wake-up would
  // hang the caller.
  for (int threads : {2, 4}) {
    use_threads(threads);
    std::atomic<int> failures{0};
    run_guarded([&] {
      for (int call = 0; call < 1000; ++call) {
        if (call % 20 == 0) std::this_thread::sleep_for(1ms);
        const index_t n = 2 + call % 2;
        std::atomic<int> runs{0};
        parallel_for(n, [&](index_t, int) { ++runs; });
        if (runs != n) ++failures;
      }
    });
    EXPECT_EQ(failures.load(), 0) << threads << " threads";
  }
}

std::atomic<long> pointer_sum{0};
void add_task(index_t task, int) { pointer_sum += task; }

TEST_F(Threads, AcceptsAnyCallable) {
  use_threads(2);
  run_guarded([] {
    std::atomic<long> sum{0};
    const auto const_lambda = [&](index_t task, int) { sum += task; };
    parallel_for(10, const_lambda);
    parallel_for(10, [&, offset = 0L](index_t task, int) mutable { sum += task + offset; });
    std::function<void(index_t, int)> function = [&](index_t task, int) { sum += task; };
    parallel_for(10, function);
    void (*pointer)(index_t, int) = add_task;
    pointer_sum = 0;
    parallel_for(10, pointer);
    EXPECT_EQ(sum.load(), 3 * 45);
    EXPECT_EQ(pointer_sum.load(), 45);
  });
}

// detail::thread_pool, driven directly.

template <class F>
void run_on(detail::thread_pool& pool, index_t n, int threads, F& f) {
  pool.run(
      n, threads,
      [](void* context, index_t task, int slot) { (*static_cast<F*>(context))(task, slot); }, &f);
}

TEST(ThreadPool, SizeCountsTheCaller) {
  EXPECT_EQ(detail::thread_pool(1).size(), 1);
  EXPECT_EQ(detail::thread_pool(3).size(), 3);
  EXPECT_EQ(detail::thread_pool(0).size(), 1);
  EXPECT_EQ(detail::thread_pool(-4).size(), 1);
}

TEST(ThreadPool, RunsEveryTaskOnceOnSlotsBelowThreadsAndTasks) {
  run_guarded([] {
    detail::thread_pool pool(3);
    for (int threads : {1, 2, 3, 8}) {
      for (index_t n : {1, 2, 3, 17, 1000}) {
        std::vector<std::atomic<int>> runs(static_cast<std::size_t>(n));
        std::atomic<int> bad_slot{0};
        const int usable = static_cast<int>(std::min<index_t>(std::min(threads, 3), n));
        std::vector<std::atomic<bool>> seen(3);
        std::atomic<int> participants{0};
        const auto deadline = clock_type::now() + 5s;
        auto task = [&](index_t t, int slot) {
          ++runs[static_cast<std::size_t>(t)];
          if (slot < 0 || slot >= usable) {
            ++bad_slot;
            return;
          }
          if (!seen[static_cast<std::size_t>(slot)].exchange(true)) ++participants;
          // Hold the task until every usable slot took one (so the workers do take part), and
          // short jobs a little longer, so a worker that should not run finds work left and
          // shows up as a slot outside [0, min(threads, size, n)).
          while (participants < usable && clock_type::now() < deadline) std::this_thread::yield();
          const auto linger = clock_type::now() + (n <= 17 ? 200us : 0us);
          while (clock_type::now() < linger) std::this_thread::yield();
        };
        run_on(pool, n, threads, task);
        EXPECT_EQ(bad_slot.load(), 0) << "n = " << n << ", threads = " << threads;
        for (index_t t = 0; t < n; ++t)
          EXPECT_EQ(runs[static_cast<std::size_t>(t)].load(), 1) << "task " << t;
      }
    }
  });
}

TEST(ThreadPool, RethrowsATaskExceptionAndKeepsWorking) {
  run_guarded([] {
    detail::thread_pool pool(2);
    auto failing = [](index_t task, int slot) {
      if (task == 5) throw task_failure{task, slot};
    };
    try {
      run_on(pool, 100, 2, failing);
      ADD_FAILURE() << "nothing was rethrown";
    } catch (const task_failure& e) {
      EXPECT_EQ(e.task, 5);
    }
    std::atomic<int> runs{0};
    auto counting = [&](index_t, int) { ++runs; };
    run_on(pool, 100, 2, counting);
    EXPECT_EQ(runs.load(), 100);
  });
}

TEST(ThreadPool, RunWithNoTasksReturnsAtOnce) {
  // parallel_for never passes n <= 0, but run() documents "every task in [0, n)", so n = 0 must
  // be a no-op. The pool is owned by the body and leaked if run() hangs.
  auto pool = std::make_shared<detail::thread_pool>(3);
  auto calls = std::make_shared<std::atomic<int>>(0);
  const bool returned = finishes_within(3s, [pool, calls] {
    auto task = [&](index_t, int) { ++*calls; };
    run_on(*pool, 0, 3, task);
  });
  EXPECT_TRUE(returned) << "thread_pool::run(0, ...) did not return";
  EXPECT_EQ(calls->load(), 0);
}

}  // namespace
}  // namespace attnkit
