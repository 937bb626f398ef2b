#pragma once
// Port forwarding into a pod: connections to 127.0.0.1:<port> (then
// [::1]:<port>) made inside the pod's network namespace (or the host's for
// a host-network pod), bridged to a transport.
//
// Over WebSocket (kubelet's pkg/kubelet/cri/streaming/portforward
// websocket.go, v4.channel.k8s.io and its base64 variant): the ports come
// as `?port=N` query parameters, port i gets data channel 2i and error
// channel 2i+1, each of which starts with the port number (2 bytes, little
// endian) sent by the server; a failed connection is reported as text on
// the error channel. Over SPDY (portforward.k8s.io, also tunneled in
// WebSocket messages as "SPDY/3.1+portforward.k8s.io"): each request ID
// the client opens has a data and an error stream and a "port" header.
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "streaming/requests.h"
#include "streaming/transport.h"
#include "streaming/ws_channel.h"

namespace kcr::streaming {

// A TCP connection to localhost:`port` in the network namespace at
// `netns_path` (empty: the caller's own). Made on a short-lived thread of
// its own that enters the namespace, so no other thread changes namespace.
// Unavailable naming the port when nothing listens on either address.
StatusOr<UniqueFd> ConnectInPod(const std::string& netns_path, int port);

// A non-blocking TCP socket of `family` (AF_INET, AF_INET6) made in the
// network namespace at `netns_path` (empty: the caller's own), for the
// session's own asynchronous connect: a socket stays in the namespace it
// was made in. Entering the namespace takes a short-lived thread, never
// anything the pod controls.
StatusOr<UniqueFd> SocketInPod(const std::string& netns_path, int family);

// The protocol for port-forward over WebSocket; nullopt when none offered
// is supported.
std::optional<ChannelProtocol> NegotiatePortForward(std::string_view offered);

// The `port` query parameters of a request target ("/portforward/x?port=80&port=8080").
// InvalidArgument for a missing, zero or out-of-range port.
StatusOr<std::vector<int>> PortsFromQuery(const std::string& target);

// Runs a WebSocket port-forward session to its end (it keeps itself alive).
void RunWsPortForward(boost::asio::io_context& io, boost::asio::thread_pool& blocking, std::shared_ptr<Transport> t,
                      std::vector<int> ports, PortForwardRequest r);
// The same over SPDY (directly or tunneled): requests come as the client
// opens their streams.
void RunSpdyPortForward(boost::asio::io_context& io, boost::asio::thread_pool& blocking, std::shared_ptr<Transport> t,
                        PortForwardRequest r);

}  // namespace kcr::streaming
