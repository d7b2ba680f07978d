// Oracle: the event catalogue in include/emily/telemetry.h.
#include <thread>

#include "support/testing.h"

namespace emily {
namespace {

struct Recorder {
  std::vector<telemetry::Event> events;
  telemetry::HandlerId id;
  explicit Recorder(const std::string& prefix)
      : id(telemetry::attach(prefix, [this](const telemetry::Event& e) { events.push_back(e); })) {}
  ~Recorder() { telemetry::detach(id); }
};

TEST(Telemetry, EvalSpanCarriesOpShapesAndDuration) {
  Recorder r("emily.eval");
  Tensor x = full({2, 3}, 1.5, DType::f32);
  ASSERT_EQ(r.events.size(), 2u);  // full's start and stop (its 0-d value is host-built)
  EXPECT_EQ(r.events[0].name, "emily.eval.start");
  EXPECT_EQ(r.events[1].name, "emily.eval.stop");
  ASSERT_NE(r.events[1].find("op"), nullptr);
  EXPECT_EQ(*r.events[1].find("op"), "full");
  EXPECT_EQ(*r.events[1].find("shapes"), "()");
  EXPECT_EQ(*r.events[1].find("dtypes"), "f32");
  EXPECT_EQ(*r.events[1].find("device"), "cpu");
  EXPECT_GE(r.events[1].duration_ns, 0);
}

TEST(Telemetry, PrefixFiltersAndDetachStops) {
  std::vector<std::string> names;
  auto id = telemetry::attach("emily.to_host",
                              [&](const telemetry::Event& e) { names.push_back(e.name); });
  Tensor x = arange(4);
  EXPECT_TRUE(names.empty());  // eval events do not match the prefix
  (void)x.to_vector<std::int64_t>();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[1], "emily.to_host.stop");
  telemetry::detach(id);
  (void)x.to_vector<std::int64_t>();
  EXPECT_EQ(names.size(), 2u);
}

TEST(Telemetry, ToHostReportsBytes) {
  Recorder r("emily.to_host.stop");
  Tensor x = zeros({10}, DType::f64);
  (void)x.to_vector<double>();
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].bytes, 80);
}

TEST(Telemetry, MemoryStatsEvent) {
  Recorder r("emily.memory");
  auto m = memory_info();
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].name, "emily.memory.stats");
  EXPECT_EQ(*r.events[0].find("active"), std::to_string(m.active));
}

TEST(Telemetry, InactiveWithoutHandlers) {
  telemetry::detach_all();
  EXPECT_FALSE(telemetry::active());
  bool computed = false;
  {
    telemetry::Span s("eval", [&] {
      computed = true;
      return std::vector<std::pair<std::string, std::string>>{};
    });
  }
  EXPECT_FALSE(computed);  // metadata is never built without a handler
}

TEST(Telemetry, HandlerMayDetachItselfAndThreadsAreSafe) {
  int calls = 0;
  telemetry::HandlerId id = 0;
  id = telemetry::attach("emily.eval.stop", [&](const telemetry::Event&) {
    ++calls;
    telemetry::detach(id);
  });
  (void)arange(3);
  (void)arange(3);
  EXPECT_EQ(calls, 1);
  std::atomic<int> seen{0};
  auto id2 = telemetry::attach("emily.eval.stop", [&](const telemetry::Event&) { ++seen; });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([] {
      for (int i = 0; i < 100; ++i) (void)arange(2);
    });
  for (auto& th : threads) th.join();
  telemetry::detach(id2);
  EXPECT_EQ(seen.load(), 400);
}

}  // namespace
}  // namespace emily
