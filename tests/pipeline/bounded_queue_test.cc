#include "pipeline/bounded_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace lockpipe {
namespace {

TEST(BoundedQueue, FifoAndCloseDrains) {
  BoundedQueue<int> q(4);
  EXPECT_TRUE(q.Push(1));
  EXPECT_TRUE(q.Push(2));
  q.Close();
  EXPECT_FALSE(q.Push(3));
  EXPECT_EQ(q.Pop(), 1);
  EXPECT_EQ(q.Pop(), 2);
  EXPECT_EQ(q.Pop(), std::nullopt);
}

TEST(BoundedQueue, BackpressureNeverExceedsCapacity) {
  BoundedQueue<int> q(3);
  std::atomic<std::size_t> max_seen{0};
  std::thread producer([&] {
    for (int i = 0; i < 2000; ++i) {
      ASSERT_TRUE(q.Push(i));
      max_seen = std::max(max_seen.load(), q.size());
    }
    q.Close();
  });
  std::vector<int> got;
  while (auto v = q.Pop()) got.push_back(*v);
  producer.join();
  ASSERT_EQ(got.size(), 2000u);
  for (int i = 0; i < 2000; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], i);
  EXPECT_LE(max_seen.load(), 3u);
}

TEST(BoundedQueue, CloseWakesBlockedProducersAndConsumers) {
  BoundedQueue<int> full(1);
  ASSERT_TRUE(full.Push(0));
  BoundedQueue<int> empty(1);
  std::atomic<bool> push_result{true};
  std::atomic<bool> pop_empty{false};
  std::thread p([&] { push_result = full.Push(1); });
  std::thread c([&] { pop_empty = !empty.Pop().has_value(); });
  full.CloseAndDrain();
  empty.Close();
  p.join();
  c.join();
  EXPECT_FALSE(push_result);
  EXPECT_TRUE(pop_empty);
}

TEST(BoundedQueue, ManyProducersManyConsumersLoseNothing) {
  BoundedQueue<int> q(8);
  std::atomic<long> sum{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < 3; ++c)
    consumers.emplace_back([&] {
      while (auto v = q.Pop()) sum += *v;
    });
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p)
    producers.emplace_back([&] {
      for (int i = 1; i <= 1000; ++i) ASSERT_TRUE(q.Push(i));
    });
  for (auto& t : producers) t.join();
  q.Close();
  for (auto& t : consumers) t.join();
  EXPECT_EQ(sum.load(), 4L * 1000 * 1001 / 2);
}

}  // namespace
}  // namespace lockpipe
