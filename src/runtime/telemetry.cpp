#include "emily/telemetry.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

namespace emily::telemetry {

namespace {
struct Entry {
  HandlerId id;
  std::string prefix;
  Handler handler;
};
std::mutex g_mutex;
// Copy-on-write: emit() takes a snapshot without holding the lock during callbacks,
// so a handler may itself attach or detach.
std::shared_ptr<const std::vector<Entry>> g_entries = std::make_shared<std::vector<Entry>>();
std::atomic<int> g_count{0};
std::atomic<HandlerId> g_next{1};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

const std::string* Event::find(const std::string& key) const {
  for (const auto& [k, v] : metadata)
    if (k == key) return &v;
  return nullptr;
}

HandlerId attach(std::string prefix, Handler handler) {
  std::lock_guard lock(g_mutex);
  auto next = std::make_shared<std::vector<Entry>>(*g_entries);
  HandlerId id = g_next.fetch_add(1);
  next->push_back({id, std::move(prefix), std::move(handler)});
  g_entries = next;
  g_count.store(static_cast<int>(next->size()), std::memory_order_release);
  return id;
}

void detach(HandlerId id) {
  std::lock_guard lock(g_mutex);
  auto next = std::make_shared<std::vector<Entry>>();
  for (const auto& e : *g_entries)
    if (e.id != id) next->push_back(e);
  g_entries = next;
  g_count.store(static_cast<int>(next->size()), std::memory_order_release);
}

void detach_all() {
  std::lock_guard lock(g_mutex);
  g_entries = std::make_shared<std::vector<Entry>>();
  g_count.store(0, std::memory_order_release);
}

bool active() {
  return g_count.load(std::memory_order_relaxed) != 0;
}

void emit(const Event& e) {
  std::shared_ptr<const std::vector<Entry>> snapshot;
  {
    std::lock_guard lock(g_mutex);
    snapshot = g_entries;
  }
  for (const auto& entry : *snapshot)
    if (e.name.compare(0, entry.prefix.size(), entry.prefix) == 0) entry.handler(e);
}

void Span::begin(const char* name, std::vector<std::pair<std::string, std::string>> meta) {
  live_ = true;
  name_ = name;
  meta_ = std::move(meta);
  Event e;
  e.name = std::string("emily.") + name + ".start";
  e.metadata = meta_;
  emit(e);
  start_ns_ = now_ns();
}

void Span::end() {
  Event e;
  e.duration_ns = now_ns() - start_ns_;
  e.name = std::string("emily.") + name_ + ".stop";
  e.bytes = bytes_;
  e.metadata = std::move(meta_);
  emit(e);
}

}  // namespace emily::telemetry
