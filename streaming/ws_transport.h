#pragma once
// Transport over a WebSocket whose handshake is done (Beast), with the
// channel framing of ws_channel.h.
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <memory>

#include "streaming/bounded_teardown.h"
#include "streaming/transport.h"
#include "streaming/ws_channel.h"

namespace kcr::streaming {

using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
using WsStream = boost::beast::websocket::stream<BoundedTeardown<boost::beast::tcp_stream>>;
using WssStream = boost::beast::websocket::stream<BoundedTeardown<TlsStream>>;

// `hello`: the channel that gets an empty message at start (kubelet sends
// one on the lowest channel the server writes, so the client knows the
// streams are up); -1: none.
std::shared_ptr<Transport> NewWsTransport(std::unique_ptr<WsStream> ws, ChannelProtocol p, int hello);
std::shared_ptr<Transport> NewWsTransport(std::unique_ptr<WssStream> ws, ChannelProtocol p, int hello);

}  // namespace kcr::streaming
