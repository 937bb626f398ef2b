#pragma once
// exec and attach over a Transport: the process's descriptors come from the
// pod's kcr-monitor (PROTOCOL.md `exec` / `attach`) and are copied to and
// from the client here, with backpressure both ways (one outstanding read
// or write per direction). A tty exec waits up to kInitialSizeGrace for the
// client's first terminal size so the command starts with it; later resizes
// apply at once (TIOCSWINSZ on the pty master). stdin EOF from the client
// closes the process's stdin. The exit status goes out on the error channel
// (v4+: a metav1.Status; v1: a message on failure only), then the
// connection closes. A client that goes away ends the session: the
// monitor connection closes, which kills an exec's process.
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <memory>

#include "streaming/requests.h"
#include "streaming/transport.h"

namespace kcr::streaming {

inline constexpr std::chrono::milliseconds kInitialSizeGrace{200};
// After an exec's process exited, output still arriving is forwarded for
// this long (a process it left may hold the pipes open forever).
inline constexpr std::chrono::milliseconds kExitDrain{1000};
// SPDY: how long the process waits for the client to open the streams its
// request asked for (kubelet waits too: what the process writes before a
// stream opens would have nowhere to go, and a session that ends first
// refuses the streams the client still waits for). A client that has not
// opened them all by then is closed and nothing runs, as kubelet's stream
// creation timeout does: a client silent after its upgrade would otherwise
// hold its connection and a running command until the idle deadline.
inline constexpr std::chrono::milliseconds kStreamsGrace{10000};

// The status object kubelet writes on the error channel for protocol
// version 4 and later: Success, or Failure with reason NonZeroExitCode and
// an ExitCode cause (exit_code != 0), or Failure with `error` as message.
std::string ExitStatusJson(int exit_code, const std::string& error);

// Runs one session to its end; it keeps itself alive meanwhile. `blocking`
// runs the monitor calls (they may wait up to their deadline).
// `protocol_version`: 1..5 as negotiated.
void RunRemoteCommand(boost::asio::io_context& io, boost::asio::thread_pool& blocking,
                      std::shared_ptr<Transport> t, int protocol_version, Request r);

}  // namespace kcr::streaming
