#pragma once
// What the streaming server admits before a client has shown a token.
//
// Every connection starts unauthenticated (TLS handshake, request headers,
// token check): a client without a token can open as many as it likes and
// stall each one up to the handshake deadline. kubelet's traffic all comes
// from one address, the same one (127.0.0.1) as any other local client, so
// refusing new connections at a bound would lock kubelet out as well.
// Instead, past the bound the oldest unauthenticated connection is closed:
// a stalled one is always older than a client that sends its request at
// once, which gets through. Bounds: `per_source` unauthenticated connections
// per client address (a flood from one address evicts its own connections
// first), and the server's connection limit, at which the oldest
// unauthenticated connection of any address makes room.
//
// Loop thread only; outlives every Slot it handed out.
#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>

namespace kcr::streaming {

class PreAuthLimits {
 public:
  // A connection not yet authenticated. Done() once its token checked out;
  // destroying it (the connection ended) does the same. Evicted: its
  // `close` ran and it no longer counts.
  class Slot {
   public:
    ~Slot() { Done(); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    void Done();
    // Who closes the connection now (the TLS stream hands it to the HTTP
    // session).
    void SetClose(std::function<void()> close);

   private:
    friend class PreAuthLimits;
    Slot() = default;
    PreAuthLimits* limits_ = nullptr;
    std::list<Slot*>::iterator it_, source_it_;
    std::string source_;
    std::function<void()> close_;
  };

  explicit PreAuthLimits(size_t per_source) : per_source_(per_source) {}

  // Counts a new connection from `source` (an address); first closes the
  // oldest unauthenticated connection of that source when it is at its
  // bound. `close` closes the connection (asynchronously is fine: it no
  // longer counts from the moment it is called).
  std::unique_ptr<Slot> Admit(const std::string& source, std::function<void()> close);
  // Closes the oldest unauthenticated connection of any source; false if
  // there is none.
  bool EvictOldest();

  size_t Count(const std::string& source) const;
  size_t Total() const { return order_.size(); }

 private:
  void Remove(Slot* s);
  void Evict(Slot* s);
  size_t per_source_;
  std::list<Slot*> order_;  // oldest first
  std::map<std::string, std::list<Slot*>> by_source_;  // oldest first, per source
};

}  // namespace kcr::streaming
