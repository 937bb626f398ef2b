#include "streaming/connection_limits.h"

#include <utility>

namespace kcr::streaming {

void PreAuthLimits::Slot::Done() {
  if (limits_) limits_->Remove(this);
}

void PreAuthLimits::Slot::SetClose(std::function<void()> close) { close_ = std::move(close); }

std::unique_ptr<PreAuthLimits::Slot> PreAuthLimits::Admit(const std::string& source, std::function<void()> close) {
  for (;;) {  // Evict may drop the source's list: look it up each time
    auto it = by_source_.find(source);
    if (it == by_source_.end() || it->second.size() < per_source_) break;
    Evict(it->second.front());
  }
  auto& mine = by_source_[source];
  std::unique_ptr<Slot> s(new Slot());
  s->limits_ = this;
  s->source_ = source;
  s->close_ = std::move(close);
  s->it_ = order_.insert(order_.end(), s.get());
  s->source_it_ = mine.insert(mine.end(), s.get());
  return s;
}

bool PreAuthLimits::EvictOldest() {
  if (order_.empty()) return false;
  Evict(order_.front());
  return true;
}

size_t PreAuthLimits::Count(const std::string& source) const {
  auto it = by_source_.find(source);
  return it == by_source_.end() ? 0 : it->second.size();
}

void PreAuthLimits::Remove(Slot* s) {
  order_.erase(s->it_);
  auto src = by_source_.find(s->source_);
  src->second.erase(s->source_it_);
  if (src->second.empty()) by_source_.erase(src);
  s->limits_ = nullptr;
}

void PreAuthLimits::Evict(Slot* s) {
  // No longer counted before `close` runs: it may end the connection (and
  // destroy the slot) only later, on the loop.
  Remove(s);
  if (auto close = std::move(s->close_)) close();
}

}  // namespace kcr::streaming
